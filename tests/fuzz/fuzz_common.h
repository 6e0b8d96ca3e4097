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

// Fixed throwaway keys for the fuzz seed (made for this file with Python cryptography), in
// local-kms's Keys.Asymmetric shape: inputs name them by ID.
inline constexpr char kSignKeyId[] = "a1a1a1a1-0000-4000-8000-000000000001";     // ECC_NIST_P256
inline constexpr char kAgreeKeyId[] = "a1a1a1a1-0000-4000-8000-000000000002";    // KEY_AGREEMENT
inline constexpr char kRsaKeyId[] = "a1a1a1a1-0000-4000-8000-000000000003";      // RSA_2048 E/D
inline constexpr char kEd25519KeyId[] = "a1a1a1a1-0000-4000-8000-000000000004";  // Ed25519
inline constexpr char kSignPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQ2eYm8ax1g8F6LwY\n"
    "MuPmlPC+C5wLfUYLsAOQpzEG1cyhRANCAASAgNWgA8YXV3PqWAbwef+MGl+0bGz4\n"
    "YTL9zadpSHpavvES3akzCPWzylAJLIudBAhuaXe3xw4lyKURWi661/w+\n"
    "-----END PRIVATE KEY-----\n";
inline constexpr char kAgreePem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIATE8/Duj0jUNJizHyg5zyKVpFftwSnciq1kebUNDDRVoAoGCCqGSM49\n"
    "AwEHoUQDQgAEhdkd4mB1agOK8Wf+pxSrLFMCd1swQBYr8JF3dKDxlGR5n0+4A3CE\n"
    "euge/Y8OeFd2FIfClTgPI1q+QoF+dDe6cQ==\n"
    "-----END EC PRIVATE KEY-----\n";
inline constexpr char kRsaPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDENWA8wL4YMKyD\n"
    "PBgevr/wq++afzfAQA3XNiQxxYIvFNOMnC6OZi4TwaHgdwT/sh6n6MxO3bkGd89r\n"
    "lfy+IqF3z8O99OccUh7HoAer+zY/ZhyZYtzLkPDYVIjfZNjAZi0gmxmMkmLrELDA\n"
    "6ceJpaOooZ0M2g30a9zxZVzq2fxGu02jQl7RP+ZL1dA5slSG6QzEknxlPkbDaiES\n"
    "bQZ6O6M73DhoFM2Eul1p35M2iYmAsXDEjuZ7kTBS2oNaLgYXBmHKul/eMoSEiZnS\n"
    "fKb/hc1l2BzVxwP+IPR3BTM+jkXp+Fo424EYzuebgm3r1D2YWNQhi1XiqO9EI8bs\n"
    "SvSbx7qnAgMBAAECggEACkR2yEcXy4FEjcuHwZgeyDPfInkUzEkt0DzDkR0yTk9r\n"
    "MJj9sLL1J1CDLZFc4BqMkyHSCzB8HbQIVStwoeyDAZeMOTUHIQrFFJIxxJStRo0L\n"
    "4xTy0+4+RDvMO9B1rT/LjcDACgShC4cAkN/K8s+JrGnko4cHoupAEhvJTHriwjq0\n"
    "g5qlxZCJ7QmB3Ke4Jn518kHenWrSLcBwzsOL0SavQiu2mjSn1TmG4ANnHp93I8o4\n"
    "V8LaBFrVu/uq0JvVN954u7W1gw0HZYwyW/JV7wVraNiDH2iUT058YNJeY1q1f9rh\n"
    "SIOqu3PNfAp8p7DxTBAVbJ4u5CVDRD8zUJk/sDnlIQKBgQDlF/5w0YGA1wgnSqj+\n"
    "Nc1xtVbV5G0h+aCr9hvMluUwTQJdSBLJsvcbQtIa5NDozkONXP80d4KtCHj3Mar4\n"
    "V8mL964MAe/lJUwh9L/A7mhRc5TycGnkEd+1dbtOnQMCuG/EXKE38lDPIAZAO1m3\n"
    "jsbPi0lQQrdiHEPZ0EH7y0g1IQKBgQDbQKTnmdQB1bycV/u6jRP1ejcRth6Lfw6T\n"
    "XU7U1t8iI5dAPVyrjxObnQK2AzlfjITxs2M4/6BT+nEp5yXe2p5j+Zt7oKbp+bbG\n"
    "kfUKsQ5fmSPtrU7QSJuXg0RahLkkxTF2cSasMoIOfc0eL9sBRzy8PU8CgJ4tiG6u\n"
    "1QETR0quxwKBgQDWS/N+pPt3Aa5m0rfx03IyA2cO/XX4agGZ2cV3Q09wNxkXGOw6\n"
    "MGZl4cOX1KJ2ozsdaPhwo7phEaPV12gOlk+51h3Ara8xsgndWYxldJ2wU2Xowq7K\n"
    "4M1aeJ6VktnWGaCzFdLY+poMpfAy9VGfGrduPOR/Z2kTJU1y2hRe7HDHAQKBgQCp\n"
    "Zs0C1OvlbwsHkUNB4/bj18XsvVXkWgsc+R8Le+lzKySV0dNkCmwP88RAdUVC+gNN\n"
    "7FhhlcB+oiYFRj8QbMGsZRMo9fuBFBuQWP2HgT2lx2DnJtyaOT9eVWHevmV+b43E\n"
    "AbDroyqxn6l4BWmlFzFqD8SYHmAYti0ukA0ApDijyQKBgDrnbgCFFA7ALTJjscWu\n"
    "0lhs+55DidNxPd8BlTraOc9UChLKbs7hF2bxpoE9HrUdG7KdiWK5iMtXUrg0t+xx\n"
    "3EE7A9LC4Y743zqYbujAf7suHxDWC0KUfRFnKIvO+gDv951LAdrc/faLYOD1Ohho\n"
    "rm8n2dBQiSyUgB8G+tTe1SzG\n"
    "-----END PRIVATE KEY-----\n";
inline constexpr char kEd25519Pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJhHD1zhvHEr1AyoCjl8sOegNBUPxQP6j+AoHNrStIOz\n"
    "-----END PRIVATE KEY-----\n";

// `pem` as a YAML block scalar's lines, indented for a PrivateKeyPem entry.
inline std::string IndentedPem(std::string_view pem) {
    std::string out = "          ";
    for (char c : pem) {
        out += c;
        if (c == '\n') out += "          ";
    }
    return out + "\n";
}

inline std::string AsymmetricEntry(const char* id, const char* usage, const char* pem) {
    return std::string("      - Metadata:\n          KeyId: ") + id +
           "\n          KeyUsage: " + usage + "\n        PrivateKeyPem: |\n" + IndentedPem(pem);
}

inline std::string SeedYaml() {
    return std::string("Keys:\n  Asymmetric:\n    Rsa:\n") +
           AsymmetricEntry(kRsaKeyId, "ENCRYPT_DECRYPT", kRsaPem) + "    Ecc:\n" +
           AsymmetricEntry(kSignKeyId, "SIGN_VERIFY", kSignPem) +
           AsymmetricEntry(kAgreeKeyId, "KEY_AGREEMENT", kAgreePem) +
           AsymmetricEntry(kEd25519KeyId, "SIGN_VERIFY", kEd25519Pem) +
           std::string("  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: ") + kKeyId +
           "\n          Description: fuzz\n        BackingKeys:\n          - " + kOldMaterial +
           "\n          - " + kNewMaterial +
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
        // An external key store's proxy is never there; a call to one gives up at once.
        options_.xks.timeout_ms = 1;
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
