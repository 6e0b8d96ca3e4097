// Shared pieces of the libFuzzer targets (design.md §9): quiet logging, the fixed keys that seed
// inputs refer to, and an in-memory App that is reopened often enough that no state grows without
// bound across inputs (leaks reported by LeakSanitizer are then real ones).
#pragma once

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/app.h"

namespace kmsd::fuzz {

inline constexpr char kAccount[] = "111122223333";
inline constexpr char kRegion[] = "us-east-1";
// Seeded keys (fixed IDs and material), so inputs can name keys and carry valid ciphertexts.
inline constexpr char kKeyId[] = "11111111-2222-3333-4444-555555555555";
inline constexpr char kDisabledKeyId[] = "66666666-7777-8888-9999-000000000000";
inline constexpr char kOldMaterial[] =
    "5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9";
inline constexpr char kNewMaterial[] =
    "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

inline std::string SeedYaml() {
    return std::string("Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: ") +
           kKeyId + "\n          Description: fuzz\n        BackingKeys:\n          - " +
           kOldMaterial + "\n          - " + kNewMaterial +
           "\n      - Metadata:\n          KeyId: " + kDisabledKeyId +
           "\n          KeyState: Disabled\n        BackingKeys:\n          - " + kOldMaterial +
           "\nAliases:\n  - AliasName: alias/fuzz\n    TargetKeyId: " + kKeyId + "\n";
}

// Logging off (KMSD_FUZZ_VERBOSE=1 keeps it, to see why a request failed).
inline void Quiet() {
    if (std::getenv("KMSD_FUZZ_VERBOSE") == nullptr) spdlog::set_level(spdlog::level::off);
}

// Fails the run (libFuzzer reports it as a crash, with the input).
[[noreturn]] inline void Fail(const std::string& what) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", what.c_str());
    std::abort();
}

// `fallback`, or KMSD_FUZZ_REOPEN_EVERY when set (1 replays a finding on a fresh App).
inline int ReopenEvery(int fallback) {
    const char* env = std::getenv("KMSD_FUZZ_REOPEN_EVERY");
    return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : fallback;
}

// An App over ":memory:" with the seed keys, reopened every `reopen_every` uses: requests create
// keys, grants and clock moves, and a fresh App forgets them all.
class FuzzApp {
public:
    explicit FuzzApp(int reopen_every, std::string admin_token = "") : reopen_every_(reopen_every) {
        char path[] = "/tmp/kmsd-fuzz-seed-XXXXXX";
        const int fd = ::mkstemp(path);
        if (fd < 0) Fail("cannot create the seed file");
        ::close(fd);
        seed_path_ = path;
        std::ofstream(seed_path_) << SeedYaml();
        options_.storage.in_memory = true;
        options_.storage.seed_file = seed_path_;
        options_.server.admin_token = std::move(admin_token);
    }
    ~FuzzApp() {
        app_.reset();
        std::remove(seed_path_.c_str());
    }

    App& Get() {
        if (!app_ || ++uses_ >= reopen_every_) {
            app_.reset();
            auto opened = App::Open(options_);
            if (!opened.ok()) Fail("App::Open: " + opened.status().message());
            app_ = std::move(*opened);
            uses_ = 0;
        }
        return *app_;
    }

    // Closes the App when this input was its last use. Closing at the end of an input rather than
    // at the start of the next keeps each input's allocations balanced, so libFuzzer's per-input
    // leak check (which runs when an input allocates more than it frees) stays quiet and cheap.
    void Done() {
        if (uses_ + 1 >= reopen_every_) {
            app_.reset();
            uses_ = 0;
        }
    }

private:
    int reopen_every_;
    int uses_ = 0;
    std::string seed_path_;
    Options options_;
    std::unique_ptr<App> app_;
};

// Splits off the text up to the next '\n' (without it); the rest stays in `in`.
inline std::string_view TakeLine(std::string_view& in) {
    const auto nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    return line;
}

inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace kmsd::fuzz
