// Builds dist/: the app bundle and CSS under hashed names (meet-web serves
// them as immutable), index.html and 404.html that name them, the vendored
// lib-jitsi-meet and jQuery under versioned names in libs/, and
// external_api.js under its well-known, unhashed name.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);
const dist = path.join(here, 'dist');

// Strict type checking is part of the build: esbuild only strips types.
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', here], { stdio: 'inherit' });
} catch {
  console.error('meet-web UI: type check failed');
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(path.join(dist, 'libs'), { recursive: true });

const ljmVersion = JSON.parse(readFileSync(require.resolve('@lyno/lib-jitsi-meet/package.json'), 'utf8')).version;
const jqVersion = JSON.parse(readFileSync(require.resolve('jquery/package.json'), 'utf8')).version;
const libs = {
  ljm: `/libs/lib-jitsi-meet-${ljmVersion}.min.js`,
  jquery: `/libs/jquery-${jqVersion}.min.js`,
};
cpSync(require.resolve('@lyno/lib-jitsi-meet/lib-jitsi-meet.min.js'), path.join(dist, libs.ljm));
cpSync(require.resolve('jquery/dist/jquery.min.js'), path.join(dist, libs.jquery));

const common = {
  bundle: true,
  minify: true,
  target: 'es2020',
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
};

const app = await build({
  ...common,
  entryPoints: { app: path.join(here, 'src/main.ts') },
  outdir: path.join(dist, 'static'),
  entryNames: '[name]-[hash]',
  format: 'iife',
  metafile: true,
  define: {
    __LJM_URL__: JSON.stringify(libs.ljm),
    __JQUERY_URL__: JSON.stringify(libs.jquery),
  },
});

await build({
  ...common,
  entryPoints: [path.join(here, 'src/external_api/index.ts')],
  outfile: path.join(dist, 'external_api.js'),
  format: 'iife',
});

const outputs = Object.keys(app.metafile.outputs).map((p) => '/' + path.relative(dist, path.resolve(p)));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (!js || !css) throw new Error(`unexpected esbuild outputs: ${outputs.join(', ')}`);

for (const [name, view] of [['index.html', 'app'], ['404.html', 'not-found']]) {
  const html = readFileSync(path.join(here, 'static/index.html'), 'utf8')
    .replaceAll('%APP_JS%', js)
    .replaceAll('%APP_CSS%', css)
    .replaceAll('%VIEW%', view);
  writeFileSync(path.join(dist, name), html);
}
for (const f of readdirSync(path.join(here, 'static'))) {
  if (f !== 'index.html') cpSync(path.join(here, 'static', f), path.join(dist, f));
}
console.log(`meet-web UI built: ${js}, ${css}, external_api.js, ${libs.ljm}, ${libs.jquery}`);
