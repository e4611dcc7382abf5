import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/**
 * Builds the UI into dist/ (served by `pier server`). `npm run dev -w @pier/ui` proxies /api to
 * `pier server` on its default port, accepting its self-signed certificate.
 */
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: { proxy: { "/api": { target: "https://127.0.0.1:9443", secure: false } } },
  preview: { proxy: { "/api": { target: "https://127.0.0.1:9443", secure: false } } },
});
