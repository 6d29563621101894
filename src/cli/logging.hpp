#pragma once
// How `hookd serve` logs: spdlog's default logger (stdout), as text or one JSON object a line.
#include <string>

namespace hookd::cli {

enum class LogFormat { kText, kJson };

//! Sets the level ("trace" … "off", already validated) and the format of every later
//! log line. Call once, before any other thread logs.
void ConfigureLogging(const std::string& level, LogFormat format);

}  // namespace hookd::cli
