// Ethernet ports (PCI NICs or vdevs): discovery, configuration, start/stop, link, stats and xstats.
#include "common.h"
#include "global.h"
#include <rte_errno.h>
#include <rte_ether.h>
#include <cstdio>
#include <cstring>

namespace netstar {

static uint16_t portArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (!global().ealUp) fail(env, "ERR_EAL_STATE", "the EAL is not running; call eal.init first");
  uint32_t id = argU32(info, i, "port");
  if (id >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(static_cast<uint16_t>(id)))
    fail(env, "ERR_PORT", "no port " + std::to_string(id) + " (the EAL found " + std::to_string(rte_eth_dev_count_avail()) + ")");
  return static_cast<uint16_t>(id);
}

// RSS hash function names (config) -> RTE_ETH_RSS_* bits. Names, not bits, cross the boundary: TS owns the
// policy (which functions), native owns the mapping to this DPDK version's flags.
static const struct { const char* name; uint64_t bits; } kRssFunctions[] = {
    {"ip", RTE_ETH_RSS_IP}, {"tcp", RTE_ETH_RSS_TCP}, {"udp", RTE_ETH_RSS_UDP}, {"sctp", RTE_ETH_RSS_SCTP},
    {"ipv4", RTE_ETH_RSS_IPV4}, {"ipv4-tcp", RTE_ETH_RSS_NONFRAG_IPV4_TCP}, {"ipv4-udp", RTE_ETH_RSS_NONFRAG_IPV4_UDP},
    {"ipv4-frag", RTE_ETH_RSS_FRAG_IPV4}, {"ipv6", RTE_ETH_RSS_IPV6}, {"ipv6-tcp", RTE_ETH_RSS_NONFRAG_IPV6_TCP},
    {"ipv6-udp", RTE_ETH_RSS_NONFRAG_IPV6_UDP}, {"ipv6-frag", RTE_ETH_RSS_FRAG_IPV6}, {"l2-payload", RTE_ETH_RSS_L2_PAYLOAD},
};

static std::string rssNames(uint64_t bits) {
  std::string out;
  for (const auto& f : kRssFunctions)
    if ((bits & f.bits) == f.bits) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out.empty() ? "none" : out;
}

static std::string macString(const rte_ether_addr& a) {
  char buf[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(buf, sizeof(buf), &a);
  return buf;
}

static Napi::Value PortCount(const Napi::CallbackInfo& info) {
  if (!global().ealUp) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), rte_eth_dev_count_avail());
}

static Napi::Value PortByName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!global().ealUp) fail(env, "ERR_EAL_STATE", "the EAL is not running; call eal.init first");
  std::string name = argString(info, 0, "port name");
  uint16_t id;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) return env.Null();
  return Napi::Number::New(env, id);
}

static Napi::Value PortInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  rte_eth_dev_info di;
  int rc = rte_eth_dev_info_get(port, &di);
  if (rc != 0) fail(env, "ERR_PORT", std::string("cannot read port info: ") + rte_strerror(-rc));
  char name[RTE_ETH_NAME_MAX_LEN] = {0};
  rte_eth_dev_get_name_by_port(port, name);
  rte_ether_addr mac;
  rte_eth_macaddr_get(port, &mac);
  uint16_t mtu = 0;
  rte_eth_dev_get_mtu(port, &mtu);
  Napi::Object r = Napi::Object::New(env);
  r.Set("id", Napi::Number::New(env, port));
  r.Set("name", name);
  r.Set("driver", di.driver_name ? di.driver_name : "");
  r.Set("mac", macString(mac));
  r.Set("mtu", Napi::Number::New(env, mtu));
  r.Set("minMtu", Napi::Number::New(env, di.min_mtu));
  r.Set("maxMtu", Napi::Number::New(env, di.max_mtu));
  r.Set("maxRxQueues", Napi::Number::New(env, di.max_rx_queues));
  r.Set("maxTxQueues", Napi::Number::New(env, di.max_tx_queues));
  r.Set("rssOffloads", Napi::Number::New(env, static_cast<double>(di.flow_type_rss_offloads)));
  r.Set("rxOffloads", Napi::Number::New(env, static_cast<double>(di.rx_offload_capa)));
  r.Set("txOffloads", Napi::Number::New(env, static_cast<double>(di.tx_offload_capa)));
  r.Set("retaSize", Napi::Number::New(env, di.reta_size));
  r.Set("hashKeySize", Napi::Number::New(env, di.hash_key_size));
  r.Set("socket", Napi::Number::New(env, rte_eth_dev_socket_id(port)));
  PortState& ps = global().ports[port];
  r.Set("rxQueues", Napi::Number::New(env, ps.rxQueues.load()));
  r.Set("txQueues", Napi::Number::New(env, ps.txQueues.load()));
  r.Set("started", Napi::Boolean::New(env, ps.started.load()));
  return r;
}

// port.configure(port, {pool, rxQueues, txQueues, rxDesc, txDesc, mtu, promiscuous, rss, rssKey, rssFunctions,
// fastFree})
static Napi::Value PortConfigure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  Napi::Object o = argObject(info, 1, "port options");
  PortState& ps = global().ports[port];
  if (ps.started) fail(env, "ERR_PORT_STATE", "port " + std::to_string(port) + " is started; stop it before configuring");
  uint32_t poolId = optU32(env, o, "pool", 0, 0, MAX_POOLS - 1);
  if (poolId >= global().nPools.load()) fail(env, "ERR_INVALID_ARG", "no pool " + std::to_string(poolId));
  // Optional per-RX-queue pools (one per shard), else every queue uses `pool`.
  std::vector<uint32_t> queuePools;
  if (o.Has("queuePools") && o.Get("queuePools").IsArray()) {
    Napi::Array qa = o.Get("queuePools").As<Napi::Array>();
    for (uint32_t i = 0; i < qa.Length(); i++) {
      Napi::Value v = qa.Get(i);
      if (!v.IsNumber()) fail(env, "ERR_INVALID_ARG", "queuePools must hold pool numbers");
      uint32_t id = v.As<Napi::Number>().Uint32Value();
      if (id >= global().nPools.load()) fail(env, "ERR_INVALID_ARG", "no pool " + std::to_string(id));
      queuePools.push_back(id);
    }
  }
  rte_eth_dev_info di;
  int rc = rte_eth_dev_info_get(port, &di);
  if (rc != 0) fail(env, "ERR_PORT", std::string("cannot read port info: ") + rte_strerror(-rc));
  uint32_t nrx = optU32(env, o, "rxQueues", 1, 1, 1024);
  uint32_t ntx = optU32(env, o, "txQueues", 1, 1, 1024);
  char name[RTE_ETH_NAME_MAX_LEN] = {0};
  rte_eth_dev_get_name_by_port(port, name);
  if (nrx > di.max_rx_queues)
    fail(env, "ERR_PORT_CONFIG", std::string("port ") + name + " supports at most " + std::to_string(di.max_rx_queues) + " RX queues, asked for " + std::to_string(nrx));
  if (ntx > di.max_tx_queues)
    fail(env, "ERR_PORT_CONFIG", std::string("port ") + name + " supports at most " + std::to_string(di.max_tx_queues) + " TX queues, asked for " + std::to_string(ntx));
  uint16_t nrxd = static_cast<uint16_t>(optU32(env, o, "rxDesc", 1024, 32, 32768));
  uint16_t ntxd = static_cast<uint16_t>(optU32(env, o, "txDesc", 1024, 32, 32768));
  bool wantRss = optBool(env, o, "rss", nrx > 1);
  bool promisc = optBool(env, o, "promiscuous", true);
  bool fastFree = optBool(env, o, "fastFree", false);

  // RSS key: the device default unless given (the bytes are copied into `rssKey` for the configure call).
  std::vector<uint8_t> rssKey;
  if (o.Has("rssKey") && !o.Get("rssKey").IsUndefined()) {
    Napi::Value kv = o.Get("rssKey");
    if (!kv.IsTypedArray() || kv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      fail(env, "ERR_INVALID_ARG", "rssKey must be a Uint8Array");
    Napi::Uint8Array ka = kv.As<Napi::Uint8Array>();
    rssKey.assign(ka.Data(), ka.Data() + ka.ElementLength());
    if (rssKey.empty() || rssKey.size() > 255) fail(env, "ERR_INVALID_ARG", "rssKey must hold 1..255 bytes");
    if (di.hash_key_size != 0 && rssKey.size() != di.hash_key_size)
      fail(env, "ERR_PORT_CONFIG", std::string("port ") + name + " takes an RSS key of " + std::to_string(di.hash_key_size) + " bytes, got " + std::to_string(rssKey.size()));
  }
  // RSS hash functions by name; explicit ones the device lacks are an error, the default is masked.
  uint64_t rssHf = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
  bool explicitHf = false;
  if (o.Has("rssFunctions") && o.Get("rssFunctions").IsArray()) {
    Napi::Array fa = o.Get("rssFunctions").As<Napi::Array>();
    rssHf = 0;
    explicitHf = true;
    for (uint32_t i = 0; i < fa.Length(); i++) {
      Napi::Value v = fa.Get(i);
      std::string fn = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
      bool found = false;
      for (const auto& f : kRssFunctions)
        if (fn == f.name) { rssHf |= f.bits; found = true; }
      if (!found) fail(env, "ERR_INVALID_ARG", "unknown RSS hash function '" + fn + "'");
    }
  }
  rte_eth_conf conf{};
  if (wantRss && nrx > 1 && di.flow_type_rss_offloads) {
    if (explicitHf && (rssHf & ~di.flow_type_rss_offloads) != 0)
      fail(env, "ERR_PORT_CONFIG", std::string("port ") + name + " cannot hash on " + rssNames(rssHf & ~di.flow_type_rss_offloads) +
                                       " (it offers: " + rssNames(di.flow_type_rss_offloads) + ")");
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = rssKey.empty() ? nullptr : rssKey.data();
    conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(rssKey.size());
    conf.rx_adv_conf.rss_conf.rss_hf = rssHf & di.flow_type_rss_offloads;
  }
  // MBUF_FAST_FREE only on request: it lets the driver return sent mbufs to the pool of the first one with
  // refcnt 1 assumed, which is right only when every mbuf sent on the queue comes from one pool and is not
  // shared. Here each shard has its own pool and packets cross shards (forward, TX hand-off), so the caller
  // must know its traffic keeps to that before asking.
  if (fastFree) {
    if (!(di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE))
      fail(env, "ERR_PORT_CONFIG", std::string("port ") + name + " does not offer MBUF_FAST_FREE");
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
  }
  rc = rte_eth_dev_configure(port, static_cast<uint16_t>(nrx), static_cast<uint16_t>(ntx), &conf);
  if (rc != 0) fail(env, "ERR_PORT_CONFIG", std::string("cannot configure port ") + name + ": " + rte_strerror(-rc));
  // Some drivers read the RSS key only through the update call (net_null), others at start from `conf`:
  // give it both ways. Not supported there is fine: the configure call carried it.
  if (conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS && (!rssKey.empty() || explicitHf)) {
    rte_eth_rss_conf upd = conf.rx_adv_conf.rss_conf;
    rc = rte_eth_dev_rss_hash_update(port, &upd);
    if (rc != 0 && rc != -ENOTSUP)
      fail(env, "ERR_PORT_CONFIG", std::string("cannot set the RSS key or hash functions of port ") + name + ": " + rte_strerror(-rc));
  }
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
  if (rc != 0) fail(env, "ERR_PORT_CONFIG", std::string("cannot adjust descriptors of port ") + name + ": " + rte_strerror(-rc));
  int socket = rte_eth_dev_socket_id(port);
  if (socket < 0) socket = static_cast<int>(rte_socket_id());
  for (uint32_t q = 0; q < nrx; q++) {
    rte_mempool* mp = global().pools[q < queuePools.size() ? queuePools[q] : poolId].mp;
    rc = rte_eth_rx_queue_setup(port, static_cast<uint16_t>(q), nrxd, static_cast<unsigned>(socket), nullptr, mp);
    if (rc != 0) fail(env, "ERR_PORT_CONFIG", std::string("cannot set up RX queue ") + std::to_string(q) + " of " + name + ": " + rte_strerror(-rc));
  }
  rte_eth_txconf txc = di.default_txconf;
  txc.offloads = conf.txmode.offloads;
  for (uint32_t q = 0; q < ntx; q++) {
    rc = rte_eth_tx_queue_setup(port, static_cast<uint16_t>(q), ntxd, static_cast<unsigned>(socket), &txc);
    if (rc != 0) fail(env, "ERR_PORT_CONFIG", std::string("cannot set up TX queue ") + std::to_string(q) + " of " + name + ": " + rte_strerror(-rc));
  }
  if (o.Has("mtu") && !o.Get("mtu").IsUndefined()) {
    uint32_t mtu = optU32(env, o, "mtu", 1500, 68, 65535);
    rc = rte_eth_dev_set_mtu(port, static_cast<uint16_t>(mtu));
    if (rc != 0 && rc != -ENOTSUP)
      fail(env, "ERR_PORT_CONFIG", std::string("cannot set MTU ") + std::to_string(mtu) + " on " + name + ": " + rte_strerror(-rc));
  }
  if (promisc) rte_eth_promiscuous_enable(port);  // some vdevs cannot; not an error
  ps.pool = static_cast<int32_t>(poolId);
  ps.rxQueues.store(static_cast<uint16_t>(nrx));
  ps.txQueues.store(static_cast<uint16_t>(ntx));
  Napi::Object r = Napi::Object::New(env);
  r.Set("rxDesc", Napi::Number::New(env, nrxd));
  r.Set("txDesc", Napi::Number::New(env, ntxd));
  r.Set("rss", Napi::Boolean::New(env, conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS));
  r.Set("fastFree", Napi::Boolean::New(env, (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) != 0));
  return r;
}

// port.rssConf(port) -> { key: Uint8Array | null, functions: string }: what the device hashes with now.
static Napi::Value PortRssConf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  uint8_t key[256];
  rte_eth_rss_conf rc{};
  rc.rss_key = key;
  rc.rss_key_len = 255;
  rte_eth_dev_info di;
  // A device that does not report its key size gets the common 40 bytes read back.
  rc.rss_key_len = rte_eth_dev_info_get(port, &di) == 0 && di.hash_key_size != 0 ? di.hash_key_size : 40;
  int r = rte_eth_dev_rss_hash_conf_get(port, &rc);
  if (r != 0) fail(env, "ERR_PORT", std::string("cannot read the RSS configuration: ") + rte_strerror(-r));
  Napi::Object o = Napi::Object::New(env);
  if (rc.rss_key_len > 0) {
    Napi::Uint8Array k = Napi::Uint8Array::New(env, rc.rss_key_len);
    std::memcpy(k.Data(), key, rc.rss_key_len);
    o.Set("key", k);
  } else {
    o.Set("key", env.Null());
  }
  o.Set("functions", rssNames(rc.rss_hf));
  return o;
}

static Napi::Value PortStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  PortState& ps = global().ports[port];
  if (ps.rxQueues == 0) fail(env, "ERR_PORT_STATE", "port " + std::to_string(port) + " is not configured");
  if (ps.started) return env.Undefined();
  int rc = rte_eth_dev_start(port);
  if (rc != 0) fail(env, "ERR_PORT", "cannot start port " + std::to_string(port) + ": " + rte_strerror(-rc));
  ps.started = true;
  return env.Undefined();
}

static Napi::Value PortStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  PortState& ps = global().ports[port];
  if (!ps.started) return env.Undefined();
  ps.started = false;
  int rc = rte_eth_dev_stop(port);
  if (rc != 0) fail(env, "ERR_PORT", "cannot stop port " + std::to_string(port) + ": " + rte_strerror(-rc));
  return env.Undefined();
}

static Napi::Value PortClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  PortState& ps = global().ports[port];
  if (ps.started) {
    ps.started = false;
    rte_eth_dev_stop(port);
  }
  ps.rxQueues = 0;
  ps.txQueues = 0;
  int rc = rte_eth_dev_close(port);
  if (rc != 0) fail(env, "ERR_PORT", "cannot close port " + std::to_string(port) + ": " + rte_strerror(-rc));
  return env.Undefined();
}

static Napi::Value PortLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  rte_eth_link link{};
  rte_eth_link_get_nowait(port, &link);
  Napi::Object r = Napi::Object::New(env);
  r.Set("up", Napi::Boolean::New(env, link.link_status == RTE_ETH_LINK_UP));
  r.Set("speedMbps", Napi::Number::New(env, link.link_speed));
  r.Set("fullDuplex", Napi::Boolean::New(env, link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX));
  return r;
}

static Napi::Value PortStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  rte_eth_stats s{};
  int rc = rte_eth_stats_get(port, &s);
  if (rc != 0) fail(env, "ERR_PORT", std::string("cannot read stats: ") + rte_strerror(-rc));
  Napi::Object r = Napi::Object::New(env);
  auto num = [&](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
  r.Set("ipackets", num(s.ipackets));
  r.Set("opackets", num(s.opackets));
  r.Set("ibytes", num(s.ibytes));
  r.Set("obytes", num(s.obytes));
  r.Set("imissed", num(s.imissed));
  r.Set("ierrors", num(s.ierrors));
  r.Set("oerrors", num(s.oerrors));
  r.Set("rxNombuf", num(s.rx_nombuf));
  PortState& ps = global().ports[port];
  uint16_t nq = std::min<uint16_t>(std::max(ps.rxQueues.load(), ps.txQueues.load()), RTE_ETHDEV_QUEUE_STAT_CNTRS);
  Napi::Array qi = Napi::Array::New(env), qo = Napi::Array::New(env);
  for (uint16_t q = 0; q < nq; q++) {
    qi.Set(q, num(s.q_ipackets[q]));
    qo.Set(q, num(s.q_opackets[q]));
  }
  r.Set("queueIpackets", qi);
  r.Set("queueOpackets", qo);
  return r;
}

static Napi::Value PortXstats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = portArg(info, 0);
  int n = rte_eth_xstats_get_names(port, nullptr, 0);
  Napi::Object r = Napi::Object::New(env);
  if (n <= 0) return r;
  std::vector<rte_eth_xstat_name> names(static_cast<size_t>(n));
  std::vector<rte_eth_xstat> vals(static_cast<size_t>(n));
  if (rte_eth_xstats_get_names(port, names.data(), static_cast<unsigned>(n)) != n) return r;
  int m = rte_eth_xstats_get(port, vals.data(), static_cast<unsigned>(n));
  for (int i = 0; i < m && i < n; i++)
    if (vals[i].id < static_cast<uint64_t>(n))
      r.Set(names[vals[i].id].name, Napi::Number::New(env, static_cast<double>(vals[i].value)));
  return r;
}

static Napi::Value PortResetStats(const Napi::CallbackInfo& info) {
  uint16_t port = portArg(info, 0);
  rte_eth_stats_reset(port);
  rte_eth_xstats_reset(port);
  return info.Env().Undefined();
}

void initPort(Napi::Env env, Napi::Object exports) {
  Napi::Object p = Napi::Object::New(env);
  p.Set("count", Napi::Function::New(env, PortCount));
  p.Set("byName", Napi::Function::New(env, PortByName));
  p.Set("info", Napi::Function::New(env, PortInfo));
  p.Set("configure", Napi::Function::New(env, PortConfigure));
  p.Set("start", Napi::Function::New(env, PortStart));
  p.Set("stop", Napi::Function::New(env, PortStop));
  p.Set("close", Napi::Function::New(env, PortClose));
  p.Set("link", Napi::Function::New(env, PortLink));
  p.Set("stats", Napi::Function::New(env, PortStats));
  p.Set("xstats", Napi::Function::New(env, PortXstats));
  p.Set("resetStats", Napi::Function::New(env, PortResetStats));
  p.Set("rssConf", Napi::Function::New(env, PortRssConf));
  exports.Set("port", p);
}

}  // namespace netstar
