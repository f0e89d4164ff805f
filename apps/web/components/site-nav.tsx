'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';

const LINKS = [
  { href: '/', label: 'Demos' },
  { href: '/audit', label: 'Audit' },
  { href: '/usage', label: 'Usage' },
  { href: '/status', label: 'Status' },
];

export function SiteNav() {
  const pathname = usePathname();
  return (
    <nav aria-label="Main">
      <ul className="nav-links">
        {LINKS.map((link) => {
          const current =
            link.href === '/'
              ? pathname === '/' || pathname.startsWith('/demos')
              : pathname.startsWith(link.href);
          return (
            <li key={link.href}>
              <Link href={link.href} aria-current={current ? 'page' : undefined}>
                {link.label}
              </Link>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
