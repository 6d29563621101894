#include "cli/keys.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/crypto.hpp"

namespace hookd::cli {

bool WriteSecretFile(const std::string& path, const std::string& content) {
    const mode_t old = umask(077);
    std::ofstream out(path, std::ios::trunc);
    out << content;
    out.close();
    umask(old);
    chmod(path.c_str(), 0600);
    return static_cast<bool>(out);
}

namespace {

Result<std::string> Decode(const std::string& text, const std::string& where) {
    std::string t = text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.size() == 64) {
        if (auto raw = crypto::HexDecode(t)) return *raw;
    }
    if (auto raw = crypto::Base64Decode(t); raw && raw->size() == 32) return *raw;
    return Fail(Error::Invalid(where + ": the master key must be 32 bytes as 64 hex characters or base64"));
}

}  // namespace

Result<std::string> LoadMasterKey(const std::optional<std::string>& env_value, const std::string& file, bool create) {
    if (env_value) return Decode(*env_value, "HOOKD_MASTER_KEY");
    if (std::filesystem::exists(file)) {
        std::ifstream in(file);
        std::stringstream buf;
        buf << in.rdbuf();
        return Decode(buf.str(), file);
    }
    if (!create) return Fail(Error::Invalid("master key file " + file + " does not exist"));
    const std::string key = crypto::RandomBytes(32);
    if (!WriteSecretFile(file, crypto::HexEncode(key) + "\n")) {
        return Fail(Error::Invalid("cannot write the master key file " + file));
    }
    spdlog::info("generated a new master key in {} (mode 0600): back it up, secrets cannot be read without it", file);
    return key;
}

}  // namespace hookd::cli
