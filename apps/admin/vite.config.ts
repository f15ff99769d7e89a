import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const apiOrigin = 'http://127.0.0.1:3000';

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    proxy: {
      '/v1': apiOrigin,
      '/health': apiOrigin,
      '/queues': apiOrigin,
      '/docs': apiOrigin,
    },
  },
});
