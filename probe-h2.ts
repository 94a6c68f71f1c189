import { Memory } from '@larder/memory';
for (const loc of ['', '/', '~', '/tmp/h2probe/afile', '/tmp/h2probe/x/../y', '/tmp/h2probe/afile/sub', 'file:///tmp/h2probe/z', ' ', '\0x']) {
  try {
    const m = new Memory(loc, { onWarning: (w) => console.log('  warn', loc, w.code, w.message.slice(0, 160)) });
    const f = m.cache((x: number) => x + 1, { name: 'f' });
    console.log(JSON.stringify(loc), 'call ->', await f(1));
    try { await m.clear(); console.log('  clear ok'); } catch (e) { console.log('  clear threw', (e as any).code, (e as Error).message.slice(0, 160)); }
    await m.close();
  } catch (e) { console.log(JSON.stringify(loc), 'threw', (e as any).code, (e as Error).message.slice(0, 200)); }
}
