#pragma once
// A temporary folder removed at the end of the test.
#include <filesystem>
#include <string>

#include <unistd.h>

#include "core/time.hpp"

namespace hookd::testing {

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "hookd-test-XXXXXX").string();
        path_ = mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    [[nodiscard]] std::string File(const std::string& name) const { return (path_ / name).string(); }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

//! A clock the test moves by hand.
class ManualClock final : public Clock {
public:
    explicit ManualClock(TimeMs start) : now_(start) {}
    [[nodiscard]] TimeMs Now() const override { return now_; }
    void Advance(DurationMs d) { now_ += d; }

private:
    TimeMs now_;
};

}  // namespace hookd::testing
