// CURVE key text and key files (docs/security.md, "Key files"). A key is 40
// characters of Z85 (ZeroMQ's encoding of 32 bytes). A key file holds lines of
// "KEY [NAME ...]"; blank lines and lines starting with '#' are skipped. NAMEs
// bind the key to peer ids (or tcp:// endpoints). Every error names the file
// and line, or the text it is about.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain::transport_internal {

inline constexpr size_t kZ85KeyChars = 40;

// One "KEY [NAME ...]" line.
struct KeyLine {
  std::string key;  // Z85
  std::vector<std::string> names;
};

// 40 characters that decode as Z85.
bool IsZ85Key(std::string_view text);

// Parses "KEY [NAME ...]" (whitespace-separated). A NAME is a peer id
// ([A-Za-z0-9_.-]+) or a tcp:// endpoint. The error says what is wrong, not where.
Result<KeyLine> ParseKeyLine(std::string_view line);

// Whether an authorized_keys entry is written inline ("KEY [NAME ...]") rather
// than naming a file: it contains whitespace, or is exactly one Z85 key and
// not the name of an existing file.
bool IsInlineKeyEntry(std::string_view entry);

// Every key line of `path`; `what` names the config key for messages
// ("security.authorized_keys"). A file without any key is an error.
Result<std::vector<KeyLine>> ReadKeyFile(const std::string& path, const std::string& what);

// Our secret key: `path` must be a regular file that neither group nor others
// may read or write (mode & 077 == 0, fix: chmod 600), holding exactly one key
// with no names.
Result<std::string> ReadSecretKeyFile(const std::string& path, const std::string& what);

// The public key of a secret key (both Z85).
Result<std::string> PublicKeyOf(const std::string& secret_key);

// A short, printable prefix of a key for logs ("rq:rM>}U?@…"); never the whole secret.
std::string KeyPrefix(std::string_view z85_key);

}  // namespace meshtrain::transport_internal
