// The strings files agree: same keys in en.json and ru.json, the same
// {placeholders} in both, no empty text, and the code asks only for keys
// that exist (the type checker also enforces the last one for t() calls).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.join(here, '..');
const en = JSON.parse(readFileSync(path.join(root, 'lang/en.json'), 'utf8'));
const ru = JSON.parse(readFileSync(path.join(root, 'lang/ru.json'), 'utf8'));

const placeholders = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

function sources(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('en.json and ru.json have the same keys', () => {
  assert.deepEqual(Object.keys(ru).sort(), Object.keys(en).sort());
});

test('every text is non-empty and has the same placeholders in both languages', () => {
  for (const key of Object.keys(en)) {
    assert.equal(typeof en[key], 'string', key);
    assert.ok(en[key].trim() && ru[key].trim(), `empty text for ${key}`);
    assert.deepEqual(placeholders(ru[key]), placeholders(en[key]), `placeholders of ${key}`);
  }
});

test('the code uses only existing keys', () => {
  const used = new Set();
  for (const file of sources(path.join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bt\(\s*'([\w.]+)'/g)) used.add(m[1]);
    // Keys chosen by expression are written as quoted 'area.name' literals
    // (src/conference/ holds the library wrapper, whose 'conference.*'
    // strings are lib-jitsi-meet event names, not messages).
    if (file.includes(`${path.sep}src${path.sep}conference${path.sep}`)) continue;
    for (const m of text.matchAll(/'((?:home|prejoin|status|conference|toolbar|chat|participant|info|settings|password|login|notice|errors|end|notFound|lang|common|roomgen|app)\.[A-Za-z]+)'/g)) used.add(m[1]);
  }
  const missing = [...used].filter((k) => !(k in en));
  assert.deepEqual(missing, []);
  assert.ok(used.size > 50, `found ${used.size} keys in use`);
});

test('room-name word lists are long enough for hard-to-guess names', () => {
  for (const lang of [en, ru]) {
    for (const k of ['roomgen.adjectives', 'roomgen.nouns', 'roomgen.verbs', 'roomgen.adverbs']) {
      const words = lang[k].split(/\s+/).filter(Boolean);
      assert.ok(words.length >= 32, `${k}: ${words.length} words`);
      assert.equal(new Set(words).size, words.length, `${k} has duplicates`);
    }
  }
});
