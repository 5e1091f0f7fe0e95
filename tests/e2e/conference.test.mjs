// Full-stack tests: written once the focus runs conferences; skipped until then.
import { test } from 'node:test';
import { FULL_STACK } from './lib.mjs';

test('full-stack conference tests', { skip: !FULL_STACK && 'needs meetctl up with meet-web and focus' }, () => {});
