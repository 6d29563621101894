#include "cli/logging.hpp"

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "core/log_line.hpp"

namespace hookd::cli {
namespace {

// Renders each record with JsonLogLine (core/log_line.hpp), one line per record.
class JsonFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
        const auto level = spdlog::level::to_string_view(msg.level);
        const std::string line =
            JsonLogLine(static_cast<TimeMs>(ms), std::string_view(level.data(), level.size()),
                        std::string_view(msg.payload.data(), msg.payload.size()), msg.thread_id);
        dest.append(line.data(), line.data() + line.size());
        dest.push_back('\n');
    }
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

void ConfigureLogging(const std::string& level, LogFormat format) {
    spdlog::set_level(spdlog::level::from_str(level));
    if (format == LogFormat::kJson) spdlog::set_formatter(std::make_unique<JsonFormatter>());
}

}  // namespace hookd::cli
