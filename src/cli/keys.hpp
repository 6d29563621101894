#pragma once
// The master key that encrypts webhook secrets at rest, and files holding secrets.
#include <optional>
#include <string>

#include "core/result.hpp"

namespace hookd::cli {

//! Writes `content` to `path` with mode 0600.
bool WriteSecretFile(const std::string& path, const std::string& content);

//! The 32-byte key from `env_value` (HOOKD_MASTER_KEY: 64 hex chars or base64) if set,
//! else from `file`; when the file does not exist and `create`, a new random key is
//! written there (mode 0600).
Result<std::string> LoadMasterKey(const std::optional<std::string>& env_value, const std::string& file, bool create);

}  // namespace hookd::cli
