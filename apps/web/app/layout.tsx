import type { ReactNode } from 'react';

export const metadata = {
  title: 'Cascadia demos',
  description: 'Agentic workflows on an on-prem mesh, metered by a gateway',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
