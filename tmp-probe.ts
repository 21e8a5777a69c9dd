import { encode, decode } from './bus/codec.ts';
const a = encode({x:1});
const b = new Uint8Array([...a, 1, 2]);
try { console.log('trailing', decode(b)); } catch (e) { console.log('threw', (e as Error).message); }
try { console.log(decode(new Uint8Array([0xc1]))); } catch (e) { console.log('threw', (e as Error).message); }
try { console.log(decode(a.subarray(0,2))); } catch (e) { console.log('threw', (e as Error).message); }
console.log(decode(encode({__proto__: 1, input: undefined, d: new Date(0), b: new Uint8Array([1]), big: 2n**70n})));
const m = decode(new Uint8Array([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x61, 1])) as any; console.log(m, ({} as any).a, Object.getPrototypeOf(m));
