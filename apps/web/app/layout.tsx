import type { Metadata, Viewport } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';
import { SessionProvider } from '../components/session-provider';
import { SiteNav } from '../components/site-nav';
import './globals.css';

export const metadata: Metadata = {
  title: { default: 'Cascadia demos', template: '%s · Cascadia demos' },
  description: 'Agentic workflows on an on-prem inference mesh, metered by a gateway, with signed receipts',
};

export const viewport: Viewport = { width: 'device-width', initialScale: 1, themeColor: '#0f1b2d' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <SessionProvider>
          <header className="site-header">
            <div className="container header-row">
              <Link href="/" className="brand">
                <span className="brand-mark" aria-hidden="true" />
                Cascadia <span className="brand-sub">mesh demos</span>
              </Link>
              <SiteNav />
            </div>
          </header>
          <main id="main" className="container">
            {children}
          </main>
          <footer className="site-footer container">
            Every call goes browser → this app's server → gateway (virtual key, budget, ledger) → mesh (signed
            receipts). The browser holds no secret and checks every receipt itself.
          </footer>
        </SessionProvider>
      </body>
    </html>
  );
}
