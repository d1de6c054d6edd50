// Atomic file writes (atomic_file.hpp): mkstemp in the target's folder, checked write(2) loop,
// fsync, rename(2), fsync of the folder (POSIX: the rename is durable only once the folder is).
#include "rngfree/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <regex>

#include "rngfree/error.hpp"

namespace rngfree {
namespace {

std::string reason(int err) { return std::strerror(err); }

// The mode a plain open(2)/ofstream would give a new file: 0666 less the umask. umask(2) can only
// be read by setting it, so it is read once, under a lock.
mode_t new_file_mode() {
  static const mode_t mode = [] {
    static std::mutex m;
    std::lock_guard<std::mutex> lock(m);
    const mode_t mask = ::umask(0022);
    ::umask(mask);
    return static_cast<mode_t>(0666 & ~mask);
  }();
  return mode;
}

// Closes the descriptor and removes the temporary file unless released (every early exit).
struct Temporary {
  std::string path;
  int fd = -1;
  ~Temporary() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }
};

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.filename().empty()) throw Error("cannot write '" + path + "': the path names a folder, not a file");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);  // a failure shows as mkstemp's reason below
  Temporary tmp;
  std::string leaf = ".";  // appended, not "." + string: GCC 12 warns (-Wrestrict) on that
  leaf += target.filename().string();
  leaf += ".tmp." + std::to_string(::getpid()) + ".XXXXXX";  // the writer's PID: see remove_abandoned_temporaries
  std::string name = (dir / leaf).string();
  tmp.fd = ::mkstemp(name.data());
  if (tmp.fd < 0) {
    throw Error("cannot write '" + path + "': cannot create a temporary file in '" + dir.string() + "' (" +
                reason(errno) + "); check that the folder exists and is writable");
  }
  tmp.path = name;
  if (::fchmod(tmp.fd, new_file_mode()) != 0) {
    throw Error("cannot write '" + path + "': cannot set the mode of '" + name + "' (" + reason(errno) + ")");
  }
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(tmp.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write '" + path + "': writing '" + name + "' failed after " +
                  std::to_string(bytes.size() - left) + " of " + std::to_string(bytes.size()) + " bytes (" +
                  reason(errno) + ")");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(tmp.fd) != 0) throw Error("cannot write '" + path + "': fsync of '" + name + "' failed (" + reason(errno) + ")");
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) throw Error("cannot write '" + path + "': closing '" + name + "' failed (" + reason(errno) + ")");
  if (::rename(name.c_str(), path.c_str()) != 0) {
    throw Error("cannot write '" + path + "': renaming '" + name + "' to it failed (" + reason(errno) + ")");
  }
  tmp.path.clear();  // renamed: nothing to remove
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw Error("wrote '" + path + "' but cannot open its folder to fsync it (" + reason(errno) + ")");
  // Some file systems cannot fsync a folder (EINVAL): the rename is as durable as they make it.
  const bool synced = ::fsync(dfd) == 0 || errno == EINVAL;
  const int err = errno;
  ::close(dfd);
  if (!synced) throw Error("wrote '" + path + "' but the fsync of its folder failed (" + reason(err) + ")");
}

int remove_abandoned_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  static const std::regex name(R"(\..+\.tmp\.([0-9]{1,9})\.[A-Za-z0-9]{6})");
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string leaf = it->path().filename().string();
    std::smatch m;
    if (!std::regex_match(leaf, m, name) || !it->is_regular_file()) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(m[1].str()));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its writer may still be running
    std::error_code rm;
    if (fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

}  // namespace rngfree
