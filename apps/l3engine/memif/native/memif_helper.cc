// System calls a memif client needs and Node does not offer: a SOCK_SEQPACKET Unix socket, messages carrying a
// file descriptor (SCM_RIGHTS), memfd regions mapped into an ArrayBuffer, eventfds. Everything else is TS.
#include <napi.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <string>

namespace {

[[noreturn]] void fail(Napi::Env env, const std::string& what) {
  throw Napi::Error::New(env, what + ": " + strerror(errno));
}

// connect(path) -> fd, non-blocking
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  sockaddr_un sa{};
  if (path.size() >= sizeof(sa.sun_path)) throw Napi::Error::New(env, "socket path too long");
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(env, "socket");
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path.data(), path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    fail(env, "connect " + path);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return Napi::Number::New(env, fd);
}

// send(fd, bytes, passFd) -> bytes sent; passFd < 0: none
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Uint8Array>();
  int pass = info[2].As<Napi::Number>().Int32Value();
  iovec iov{buf.Data(), buf.ByteLength()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  if (pass >= 0) {
    memset(ctl, 0, sizeof(ctl));
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof(ctl);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass, sizeof(int));
  }
  ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
  if (n < 0) fail(env, "sendmsg");
  return Napi::Number::New(env, static_cast<double>(n));
}

// recv(fd, out) -> bytes (0: peer closed), -1 when nothing is waiting; descriptors received are closed
Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Uint8Array>();
  iovec iov{buf.Data(), buf.ByteLength()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 4)];
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof(ctl);
  ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    fail(env, "recvmsg");
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      close(got);
    }
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// memfd(name, size) -> fd
Napi::Value Memfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  int64_t size = info[1].As<Napi::Number>().Int64Value();
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) fail(env, "memfd_create");
  if (ftruncate(fd, size) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    fail(env, "ftruncate");
  }
  return Napi::Number::New(env, fd);
}

// map(fd, size) -> ArrayBuffer over a MAP_SHARED mapping (unmapped when the buffer is collected)
Napi::Value Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail(env, "mmap");
  return Napi::ArrayBuffer::New(env, p, size, [](Napi::Env, void* data, size_t* len) { munmap(data, *len); delete len; }, new size_t(size));
}

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) fail(info.Env(), "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// A full barrier between the descriptor writes and the index store that publishes them (and the reverse on the
// consumer side): the ring is shared with another process, which JS's memory model does not cover.
Napi::Value Fence(const Napi::CallbackInfo& info) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("connect", Napi::Function::New(env, Connect));
  exports.Set("send", Napi::Function::New(env, Send));
  exports.Set("recv", Napi::Function::New(env, Recv));
  exports.Set("memfd", Napi::Function::New(env, Memfd));
  exports.Set("map", Napi::Function::New(env, Map));
  exports.Set("eventfd", Napi::Function::New(env, Eventfd));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("fence", Napi::Function::New(env, Fence));
  return exports;
}

}  // namespace

NODE_API_MODULE(memif_helper, Init)
