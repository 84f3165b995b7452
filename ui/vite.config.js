import { defineConfig } from "vite";

// Tauri serves the built files; keep paths relative and the output in dist/.
export default defineConfig({
  base: "./",
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true, target: "es2021" },
});
