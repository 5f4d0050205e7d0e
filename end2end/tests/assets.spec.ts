import { expect, test } from '@playwright/test';

// The browser bundle of a release build: named after its content, served pre-compressed
// (brotli where the browser takes it, else gzip) and kept by browsers for a year.
test('the bundle is served by content-hashed names, pre-compressed, cached for a year', async ({ request }) => {
  const html = await (await request.get('/sign-in')).text();
  const files = [...html.matchAll(/\/pkg\/labhook\.[A-Za-z0-9_-]{16,}\.(wasm|js|css)/g)].map((m) => m[0]);
  expect(new Set(files.map((f) => f.split('.').pop()))).toEqual(new Set(['wasm', 'js', 'css']));

  for (const file of new Set(files)) {
    const br = await request.get(file, { headers: { 'Accept-Encoding': 'br, gzip' } });
    expect(br.status(), file).toBe(200);
    expect(br.headers()['content-encoding'], file).toBe('br');
    expect(br.headers()['cache-control'], file).toBe('public, max-age=31536000, immutable');
    const gzip = await request.get(file, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gzip.headers()['content-encoding'], file).toBe('gzip');
  }
  const wasm = files.find((f) => f.endsWith('.wasm')) as string;
  const sizes: Record<string, number> = {};
  for (const encoding of ['br', 'gzip']) {
    const res = await request.get(wasm, { headers: { 'Accept-Encoding': encoding } });
    sizes[encoding] = Number(res.headers()['content-length']);
  }
  // Reported, not asserted: the budget is issue 25's.
  console.log(`bundle ${wasm}: ${sizes.br} bytes brotli, ${sizes.gzip} bytes gzip`);
  expect(sizes.br).toBeLessThan(sizes.gzip);

  // The page itself is never kept: a new build shows at once.
  const page = await request.get('/sign-in');
  expect(page.headers()['cache-control'] ?? '').not.toContain('immutable');
});
