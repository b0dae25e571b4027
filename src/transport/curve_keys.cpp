#include "curve_keys.h"

#include <sys/stat.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <zmq.h>

namespace meshtrain::transport_internal {
namespace {

// A key file is a few lines; anything this big is the wrong file.
constexpr std::streamsize kMaxKeyFileBytes = 1 << 20;

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::vector<std::string_view> Tokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool IsPeerIdName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

std::string Quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, 64)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return out + (text.size() > 64 ? "...'" : "'");
}

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<std::string> ReadSmallFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(what + ": cannot open " + path + ": " + std::strerror(errno));
  std::string text(static_cast<size_t>(kMaxKeyFileBytes) + 1, '\0');
  in.read(text.data(), kMaxKeyFileBytes + 1);
  if (in.bad()) return Status::InvalidArgument(what + ": cannot read " + path + ": " + std::strerror(errno));
  if (in.gcount() > kMaxKeyFileBytes) {
    return Status::InvalidArgument(what + ": " + path + " is over 1 MiB; that is not a key file");
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

}  // namespace

bool IsZ85Key(std::string_view text) {
  if (text.size() != kZ85KeyChars) return false;
  std::array<uint8_t, 32> binary{};
  const std::string copy(text);  // zmq_z85_decode wants a NUL-terminated string
  return zmq_z85_decode(binary.data(), copy.c_str()) != nullptr;
}

Result<KeyLine> ParseKeyLine(std::string_view line) {
  const std::vector<std::string_view> tokens = Tokens(line);
  if (tokens.empty()) return Status::InvalidArgument("empty key line");
  if (!IsZ85Key(tokens[0])) {
    return Status::InvalidArgument(Quoted(tokens[0]) + " is not a CURVE key (40 characters of Z85, as meshtrain keygen "
                                   "writes it); a key line is KEY [PEER_ID ...]");
  }
  KeyLine out;
  out.key = std::string(tokens[0]);
  for (size_t i = 1; i < tokens.size(); ++i) {
    const std::string_view name = tokens[i];
    if (!IsPeerIdName(name) && name.rfind("tcp://", 0) != 0) {
      return Status::InvalidArgument("the name " + Quoted(name) + " after the key is neither a peer id " +
                                     "([A-Za-z0-9_.-]) nor a tcp:// endpoint");
    }
    out.names.emplace_back(name);
  }
  return out;
}

bool IsInlineKeyEntry(std::string_view entry) {
  for (char c : entry) {
    if (IsSpace(c)) return true;
  }
  // A path may happen to be 40 Z85 characters; an existing file wins.
  std::error_code ec;
  return IsZ85Key(entry) && !std::filesystem::is_regular_file(std::filesystem::path(entry), ec);
}

Result<std::vector<KeyLine>> ReadKeyFile(const std::string& path, const std::string& what) {
  Result<std::string> text = ReadSmallFile(path, what);
  if (!text.ok()) return text.status();
  std::vector<KeyLine> keys;
  std::istringstream lines(text.value());
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    size_t first = 0;
    while (first < line.size() && IsSpace(line[first])) ++first;
    if (first == line.size() || line[first] == '#') continue;
    Result<KeyLine> key = ParseKeyLine(line);
    if (!key.ok()) return Status::InvalidArgument(what + ": " + path + ":" + std::to_string(number) + ": " +
                                                  key.status().message());
    keys.push_back(std::move(key).value());
  }
  if (keys.empty()) return Status::InvalidArgument(what + ": " + path + " holds no key");
  return keys;
}

Result<std::string> ReadSecretKeyFile(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument(what + ": cannot open " + path + ": " + std::strerror(errno) +
                                   " (make a key pair with: meshtrain keygen --out DIR --name PEER_ID)");
  }
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(what + ": " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    return Status::InvalidArgument(what + ": secret key file " + path + " is open to group or others (mode " +
                                   ModeText(st.st_mode) + "); anyone who reads it can pose as this peer. Run: "
                                   "chmod 600 " + path);
  }
  Result<std::vector<KeyLine>> keys = ReadKeyFile(path, what);
  if (!keys.ok()) return keys.status();
  if (keys->size() != 1 || !keys->front().names.empty()) {
    return Status::InvalidArgument(what + ": " + path + " must hold exactly one secret key and nothing else");
  }
  return keys->front().key;
}

Result<std::string> PublicKeyOf(const std::string& secret_key) {
  std::array<char, kZ85KeyChars + 1> pub{};
  if (secret_key.size() != kZ85KeyChars || zmq_curve_public(pub.data(), secret_key.c_str()) != 0) {
    return Status::InvalidArgument("not a CURVE secret key (40 characters of Z85)");
  }
  return std::string(pub.data(), kZ85KeyChars);
}

std::string KeyPrefix(std::string_view z85_key) {
  std::string out;
  for (char c : z85_key.substr(0, 8)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return out + "...";
}

}  // namespace meshtrain::transport_internal
