#include "cli/keygen.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <zmq.h>

namespace meshtrain {
namespace {

bool IsPeerId(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Creates `path` (which must not exist) with `mode` from the start, so a secret
// is never readable by others even for a moment, and makes it durable.
Status WriteNewFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Status::IOError(path + " already exists; keygen never overwrites a key (move it away first)");
    }
    return Status::IOError(Errno("cannot create", path));
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const Status st = Status::IOError(Errno("cannot write", path));
      ::close(fd);
      ::unlink(path.c_str());
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const Status st = Status::IOError(Errno("cannot sync", path));
    ::unlink(path.c_str());
    return st;
  }
  return Status::OK();
}

void SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Result<KeygenResult> WriteCurveKeyPair(const std::string& dir, const std::string& name) {
  if (!IsPeerId(name)) {
    return Status::InvalidArgument("--name '" + name + "': a key is named after its peer id ([A-Za-z0-9_.-]+)");
  }
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create directory " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  } else if (!std::filesystem::is_directory(dir, ec)) {
    return Status::InvalidArgument("--out " + dir + " is not a directory");
  }
  KeygenResult out;
  out.secret_path = (std::filesystem::path(dir) / (name + ".key")).string();
  out.public_path = (std::filesystem::path(dir) / (name + ".pub")).string();
  for (const std::string& path : {out.secret_path, out.public_path}) {
    if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
      return Status::IOError(path + " already exists; keygen never overwrites a key (move it away first)");
    }
  }

  std::array<char, 41> public_key{}, secret_key{};
  if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    return Status::IOError(std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno()) +
                           " (libzmq built without CURVE?)");
  }
  out.public_key = public_key.data();
  const std::string secret_text = "# meshtrain CURVE secret key of peer '" + name +
                                  "' (meshtrain keygen). Keep it on that peer only, mode 0600.\n" +
                                  std::string(secret_key.data()) + "\n";
  const std::string public_text =
      "# meshtrain CURVE public key of peer '" + name + "' (meshtrain keygen). Give it to every peer:\n"
      "# list this file, or the line below, under [security] authorized_keys.\n" +
      out.public_key + " " + name + "\n";
  MESHTRAIN_RETURN_IF_ERROR(WriteNewFile(out.secret_path, secret_text, 0600));
  if (Status st = WriteNewFile(out.public_path, public_text, 0644); !st.ok()) {
    ::unlink(out.secret_path.c_str());  // no half pair
    return st;
  }
  SyncDirectory(dir);
  return out;
}

int KeygenCommand(const std::string& dir, const std::string& name) {
  Result<KeygenResult> made = WriteCurveKeyPair(dir, name);
  if (!made.ok()) {
    std::fprintf(stderr, "meshtrain: keygen: %s\n", made.status().message().c_str());
    return made.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  std::printf("%s\n", made->public_key.c_str());
  std::fprintf(stderr, "meshtrain: wrote %s (secret, mode 0600) and %s (public, bound to peer id '%s')\n",
               made->secret_path.c_str(), made->public_path.c_str(), name.c_str());
  return 0;
}

}  // namespace meshtrain
