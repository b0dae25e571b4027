// `meshtrain keygen --out DIR [--name NAME]`: a new CURVE key pair for one peer
// (docs/security.md, "Key files"). Writes DIR/NAME.key (the secret key, created
// with mode 0600) and DIR/NAME.pub (the public key bound to peer id NAME),
// never overwriting either, and prints the public key on stdout.
#pragma once

#include <string>

#include "meshtrain/status.h"

namespace meshtrain {

struct KeygenResult {
  std::string public_key;  // Z85
  std::string secret_path;
  std::string public_path;
};

// NAME must be a peer id ([A-Za-z0-9_.-]+). DIR is created (mode 0700) if missing.
Result<KeygenResult> WriteCurveKeyPair(const std::string& dir, const std::string& name);

// The CLI verb: 0 done, 1 failure (files exist, I/O), 2 bad arguments.
int KeygenCommand(const std::string& dir, const std::string& name);

}  // namespace meshtrain
