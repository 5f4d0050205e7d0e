import { defineConfig } from '@playwright/test';

// The suite starts the release binary on a fresh, temporary database and waits until it
// answers before the first test (cargo-leptos' own runner has no readiness wait).
// Set BASE_URL to run against a server that is already running instead.
const port = Number(process.env.E2E_PORT ?? 3939);
const baseURL = process.env.BASE_URL ?? `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: './tests',
  timeout: 45_000,
  expect: { timeout: 10_000 },
  // The tests share one server and one database; some change organisation settings.
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      // Debian's Chromium: Playwright cannot download its own browser here.
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: process.env.BASE_URL
    ? undefined
    : {
        command:
          `rm -rf .tmp && mkdir -p .tmp && exec ../target/release/labhook --database .tmp/e2e.db ` +
          `serve --demo --allow-loopback-targets --listen 127.0.0.1:${port} --site-root ../target/site ` +
          // Every test signs in from 127.0.0.1: more than one person's share a minute.
          `--sign-ins-per-minute 1000`,
        url: `${baseURL}/healthz`,
        reuseExistingServer: false,
        timeout: 60_000,
        stdout: 'pipe',
        stderr: 'pipe',
      },
});
