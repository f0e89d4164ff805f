import type { NextConfig } from 'next';

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The client-bundle secret check builds into its own directory so it never disturbs `.next`.
  distDir: process.env.NEXT_DIST_DIR || '.next',
};

export default config;
