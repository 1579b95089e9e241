import path from "node:path";
import type { NextConfig } from "next";

// The panel shows candidate pictures with plain <img>: they come from any host the search found.
// Stored pictures (Supabase Storage) and Open Food Facts pictures may use next/image: see README.
const nextConfig: NextConfig = {
  poweredByHeader: false,
  // Separate build folders for the tests and the demo (set at build and at start); default .next.
  distDir: process.env.IMAGEFILL_NEXT_DIST_DIR || ".next",
  // web/ has its own lockfile beside the repository's: build from this folder only.
  turbopack: { root: path.resolve(__dirname) },
  outputFileTracingRoot: path.resolve(__dirname),
  images: {
    remotePatterns: [
      { protocol: "https", hostname: "*.supabase.co", pathname: "/storage/v1/object/public/**" },
      { protocol: "https", hostname: "images.openfoodfacts.org" },
    ],
  },
};

export default nextConfig;
