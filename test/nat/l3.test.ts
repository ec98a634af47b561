// The L3 hop's neighbor table tells its user when a known neighbor changes (offloaded flows carry copies
// of neighbor MACs and must be invalidated then), and only then.
import { L3 } from '../../net/l3';

describe('L3 neighbor changes', () => {
  const l3 = new L3([{ port: 0, ip: 0xc6120001, mask: 0xffffff00, gateway: 0, mac: 0x020000000001 }],
    { alloc: () => null, send: () => undefined, drop: () => undefined }, { retryMs: 100, tries: 3, refreshMs: 1000, maxWaiting: 8 });
  let changes = 0;
  l3.onChange = () => {
    changes++;
  };

  test('first learning and the same MAC again are no change; a new MAC or port is; static entries never change', () => {
    l3.learn(0xc6120002, 0x02000000000a, 0);
    l3.learn(0xc6120002, 0x02000000000a, 0);
    expect(changes).toBe(0);
    l3.learn(0xc6120002, 0x02000000000b, 0);
    expect(changes).toBe(1);
    expect(l3.neighbor(0xc6120002)!.mac).toBe(0x02000000000b);
    l3.learn(0xc6120002, 0x02000000000b, 1);
    expect(changes).toBe(2);
    l3.addStatic(0xc6120003, 0x02000000000c, 0);
    l3.learn(0xc6120003, 0x02000000000d, 0);
    expect(changes).toBe(2);
    expect(l3.neighbor(0xc6120003)!.mac).toBe(0x02000000000c);
    expect(l3.portMac(0)).toBe(0x020000000001);
    expect(l3.refreshMs).toBe(1000);
  });
});
