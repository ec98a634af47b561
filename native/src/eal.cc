// EAL start and stop. The main thread runs rte_eal_init once; its CPU affinity is restored afterwards so
// Node's own threads are not all pinned to the EAL main core.
#include "common.h"
#include "global.h"
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_version.h>
#include <rte_cycles.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <cstdio>
#include <sstream>

namespace netstar {


static std::vector<std::string>& ealArgs() {
  static std::vector<std::string> args;  // EAL may keep pointers into argv; keep the strings alive.
  return args;
}

// What rte_eal_init writes to fds 1 and 2 (getopt errors, its usage text on stdout, its log) goes to a
// memory file instead: on failure the lines that say what went wrong become the error's message (once, no
// usage text on the user's stdout); on success the log is passed on to stderr.
class FdCapture {
 public:
  FdCapture() {
    fflush(stdout);
    fflush(stderr);
    fd_ = memfd_create("netstar-eal", 0);
    if (fd_ < 0) return;
    out_ = dup(1);
    err_ = dup(2);
    if (out_ < 0 || err_ < 0) return;
    dup2(fd_, 1);
    dup2(fd_, 2);
    on_ = true;
  }
  ~FdCapture() { finish(); }
  std::string finish() {
    if (fd_ < 0) return "";
    std::string text;
    fflush(stdout);
    fflush(stderr);
    if (on_) {
      dup2(out_, 1);
      dup2(err_, 2);
    }
    if (out_ >= 0) close(out_);
    if (err_ >= 0) close(err_);
    lseek(fd_, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof(buf))) > 0 && text.size() < (1 << 20)) text.append(buf, static_cast<size_t>(n));
    close(fd_);
    fd_ = out_ = err_ = -1;
    on_ = false;
    return text;
  }

 private:
  int fd_ = -1, out_ = -1, err_ = -1;
  bool on_ = false;
};

// The distinct lines of EAL's output before its usage text, without the "EAL: ", "FATAL: " and program
// name prefixes: getopt and EAL say the same thing more than once.
static std::string ealProblem(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  std::vector<std::string> seen;
  while (std::getline(in, line)) {
    if (line.rfind("Usage:", 0) == 0) break;
    for (const char* pre : {"netstar: ", "EAL: ", "FATAL: "})
      if (line.rfind(pre, 0) == 0) line.erase(0, strlen(pre));
    while (!line.empty() && (line.back() == ' ' || line.back() == '.' || line.back() == '\r')) line.pop_back();
    if (line.empty()) continue;
    bool dup = false;
    for (const auto& x : seen) dup = dup || x == line;
    if (dup) continue;
    seen.push_back(line);
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

static Napi::Value EalInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.ealUp) fail(env, "ERR_EAL_STATE", "the EAL is already running in this process (one EAL per process)");
  if (info.Length() < 1 || !info[0].IsArray()) fail(env, "ERR_INVALID_ARG", "eal.init takes an array of EAL arguments");
  Napi::Array a = info[0].As<Napi::Array>();
  auto& args = ealArgs();
  args.clear();
  args.emplace_back("netstar");
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) fail(env, "ERR_INVALID_ARG", "EAL arguments must be strings");
    args.push_back(v.As<Napi::String>().Utf8Value());
  }
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);

  cpu_set_t saved;
  CPU_ZERO(&saved);
  bool haveSaved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
  FdCapture capture;
  int rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
  int err = rte_errno;
  std::string said = capture.finish();
  if (haveSaved) pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
  if (rc >= 0 && !said.empty()) {
    if (fwrite(said.data(), 1, said.size(), stderr) != said.size()) { /* nothing more to do with a broken stderr */ }
    fflush(stderr);
  }
  if (rc < 0) {
    std::string problem = ealProblem(said);
    // rte_errno is not set on every failure path ("Success"): then only what EAL said is worth showing.
    std::string msg = std::string("EAL init failed: ") + (problem.empty() ? rte_strerror(err) : problem + (err != 0 ? std::string(" (") + rte_strerror(err) + ")" : ""));
    if (err == EALREADY) msg += " (the EAL cannot start twice in one process)";
    Napi::Error e = makeError(env, "ERR_EAL_INIT", msg);
    e.Set("errno", Napi::Number::New(env, err));
    e.Set("ealOutput", Napi::String::New(env, said));
    throw e;
  }
  g.ealUp = true;
  Napi::Object r = Napi::Object::New(env);
  r.Set("mainLcore", Napi::Number::New(env, rte_get_main_lcore()));
  r.Set("socket", Napi::Number::New(env, rte_socket_id()));
  r.Set("ports", Napi::Number::New(env, rte_eth_dev_count_avail()));
  return r;
}

static Napi::Value EalCleanup(const Napi::CallbackInfo& info) {
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  if (!g.ealUp) return info.Env().Undefined();
  rte_eal_cleanup();
  g.ealUp = false;
  return info.Env().Undefined();
}

// eal.runtimeDir() -> the EAL's runtime directory (/var/run/dpdk/<prefix>), or "" when it is not running.
static Napi::Value EalRuntimeDir(const Napi::CallbackInfo& info) {
  if (!global().ealUp) return Napi::String::New(info.Env(), "");
  return Napi::String::New(info.Env(), rte_eal_get_runtime_dir());
}

// eal.claimPrefix(dir) -> { state: 'absent' | 'live' | 'stale' | 'unknown', pid?, removed?, error? }
// Before rte_eal_init: is the runtime directory of this file prefix (/var/run/dpdk/<prefix>) held by a
// running primary? The EAL's primary keeps a POSIX write lock on part of <dir>/config for its whole life;
// the kernel drops it when the process dies, however it dies. So:
//   live   – someone holds a conflicting lock (pid: who, from F_GETLK);
//   stale  – config is there and nobody holds it: its process is gone (SIGKILL, crash). The files it left
//            are removed while we hold the lock (another starter that opened the old config then fails to
//            lock it and is refused as on a live prefix); config goes last. The directory itself stays (an
//            EAL starting meanwhile may have just created it); the EAL reuses it.
//   absent – no config file; unknown – it could not be checked (error says why); the EAL decides then.
static Napi::Value EalClaimPrefix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) fail(env, "ERR_INVALID_ARG", "eal.claimPrefix takes the runtime directory");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Object r = Napi::Object::New(env);
  std::string cfg = dir + "/config";
  int fd = open(cfg.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    r.Set("state", Napi::String::New(env, e == ENOENT || e == ENOTDIR ? "absent" : "unknown"));
    if (e != ENOENT && e != ENOTDIR) r.Set("error", Napi::String::New(env, std::string("open ") + cfg + ": " + strerror(e)));
    return r;
  }
  struct flock lk;
  memset(&lk, 0, sizeof(lk));
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;  // l_start 0, l_len 0: the whole file, which covers the EAL's locked range
  if (fcntl(fd, F_SETLK, &lk) < 0) {
    int e = errno;
    if (e == EACCES || e == EAGAIN) {
      struct flock q;
      memset(&q, 0, sizeof(q));
      q.l_type = F_WRLCK;
      q.l_whence = SEEK_SET;
      r.Set("state", Napi::String::New(env, "live"));
      if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK) r.Set("pid", Napi::Number::New(env, q.l_pid));
    } else {
      r.Set("state", Napi::String::New(env, "unknown"));
      r.Set("error", Napi::String::New(env, std::string("lock ") + cfg + ": " + strerror(e)));
    }
    close(fd);
    return r;
  }
  Napi::Array removed = Napi::Array::New(env);
  uint32_t n = 0;
  std::string failed;
  if (DIR* d = opendir(dir.c_str())) {
    std::vector<std::string> names;
    while (struct dirent* de = readdir(d)) {
      std::string name = de->d_name;
      if (name != "." && name != ".." && name != "config") names.push_back(name);
    }
    closedir(d);
    names.push_back("config");
    for (const auto& name : names) {
      std::string f = dir + "/" + name;
      struct stat st;
      if (lstat(f.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;  // leave anything but files and sockets
      if (unlink(f.c_str()) == 0) removed.Set(n++, Napi::String::New(env, name));
      else if (failed.empty()) failed = std::string("unlink ") + f + ": " + strerror(errno);
    }
  }
  close(fd);  // drops the lock
  r.Set("state", Napi::String::New(env, "stale"));
  r.Set("removed", removed);
  if (!failed.empty()) r.Set("error", Napi::String::New(env, failed));
  return r;
}

static Napi::Value EalRunning(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), global().ealUp.load());
}

static Napi::Value TscHz(const Napi::CallbackInfo& info) {
  if (!global().ealUp) fail(info.Env(), "ERR_EAL_STATE", "the EAL is not running");
  return Napi::Number::New(info.Env(), static_cast<double>(rte_get_tsc_hz()));
}

static Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), rte_version());
}

void initEal(Napi::Env env, Napi::Object exports) {
  Napi::Object eal = Napi::Object::New(env);
  eal.Set("init", Napi::Function::New(env, EalInit));
  eal.Set("cleanup", Napi::Function::New(env, EalCleanup));
  eal.Set("running", Napi::Function::New(env, EalRunning));
  eal.Set("runtimeDir", Napi::Function::New(env, EalRuntimeDir));
  eal.Set("claimPrefix", Napi::Function::New(env, EalClaimPrefix));
  eal.Set("version", Napi::Function::New(env, Version));
  eal.Set("tscHz", Napi::Function::New(env, TscHz));
  exports.Set("eal", eal);
}

}  // namespace netstar
