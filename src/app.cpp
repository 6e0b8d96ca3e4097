#include "src/app.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/lifecycle.h"
#include "api/resolve.h"
#include "common/base64.h"
#include "hsm/crypto.h"
#include "src/seed.h"
#include "src/xks/transport.h"

namespace kmsd {
namespace {

constexpr char kCheckMeta[] = "master_key_check";
constexpr char kClockMeta[] = "clock_offset";
constexpr std::size_t kMasterKeyBytes = 32;

// A key file holds 32 raw bytes or their base64 (surrounding whitespace ignored).
Result<SecureBytes> ParseKeyText(const SecureString& text, const std::string& where) {
    if (text.size() == kMasterKeyBytes) return SecureBytes(text.begin(), text.end());
    std::string_view trimmed(text.data(), text.size());
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
        trimmed.remove_suffix(1);
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
        trimmed.remove_prefix(1);
    auto decoded = Base64Decode(trimmed);
    if (!decoded || decoded->size() != kMasterKeyBytes)
        return Error(ErrorCode::kInternal,
                     where + " must hold a 32-byte master key (raw, or base64 of 32 bytes)");
    return std::move(*decoded);
}

Result<SecureString> ReadSecretFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(ErrorCode::kInternal, "cannot read master key file " + path);
    SecureString text;
    char buf[256];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        text.append(buf, static_cast<std::size_t>(in.gcount()));
        SecureWipe(buf, sizeof buf);
    }
    // The loop ends at end of file or on a read error (a directory opens but does not read);
    // only the former means the whole file was read.
    if (!in.eof()) return Error(ErrorCode::kInternal, "cannot read master key file " + path);
    return text;
}

// write(2) may write less than asked (a signal, a nearly full disk): loop until all of it is
// written or a real error (ENOSPC, EIO) is reported.
bool WriteAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

std::string Errno() { return std::strerror(errno); }

// temp file (0600) → write → fsync → rename → fsync the directory: the key is on disk before
// anything is sealed under it. The temp file is created with O_EXCL|O_NOFOLLOW so a symlink
// planted at its path is never written through; rename() replaces a symlink at master.key
// itself rather than following it.
Status WriteKeyFileDurably(const std::string& dir, const SecureBytes& key) {
    const std::string path = dir + "/master.key";
    const std::string tmp = path + ".tmp";
    // A leftover of an interrupted start (or anything planted there): unlink() removes a
    // symlink, not its target.
    if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
        return Error(ErrorCode::kInternal, "cannot remove stale " + tmp + ": " + Errno());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Error(ErrorCode::kInternal, "cannot create " + tmp + ": " + Errno());
    std::string text = Base64Encode(key) + "\n";
    bool ok = WriteAll(fd, text.data(), text.size()) && ::fsync(fd) == 0;
    std::string why = ok ? std::string() : Errno();
    SecureWipe(text.data(), text.size());
    if (::close(fd) != 0 && ok) {
        ok = false;
        why = Errno();
    }
    if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
        ok = false;
        why = Errno();
    }
    if (!ok) {
        ::unlink(tmp.c_str());
        return Error(ErrorCode::kInternal, "cannot write " + path + ": " + why);
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return Status::Ok();
}

// Creates the data directory 0700 when it does not exist. A directory that already exists is
// the operator's (a volume, a shared path): its mode is left exactly as it is.
Status EnsureDataDir(const std::string& dir) {
    namespace fs = std::filesystem;
    fs::path p = fs::path(dir).lexically_normal();
    if (!p.empty() && p.filename().empty()) p = p.parent_path();  // "data/" → "data"
    std::error_code ec;
    if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
    if (ec)
        return Error(ErrorCode::kInternal,
                     "cannot create data directory " + dir + ": " + ec.message());
    // mkdir's mode is narrowed by the umask, never widened: the new directory is at most 0700.
    if (::mkdir(p.c_str(), 0700) == 0) return Status::Ok();
    if (errno != EEXIST)
        return Error(ErrorCode::kInternal, "cannot create data directory " + dir + ": " + Errno());
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Error(ErrorCode::kInternal, "data directory " + dir + " is not a directory");
    if ((st.st_mode & 077) != 0)
        spdlog::warn(
            "data directory {} is accessible to other users (mode {:o}); kmsd keeps "
            "its files 0600 and leaves the directory's mode alone",
            dir, st.st_mode & 0777);
    return Status::Ok();
}

}  // namespace

// The master key given by --master-key-file or KMSD_MASTER_KEY; nullopt when neither is set.
// Read before the data directory or the database is touched: a key that cannot be read or
// parsed refuses to start and leaves nothing behind.
Result<std::optional<SecureBytes>> GivenMasterKey(const StorageOptions& storage) {
    if (!storage.master_key_file.empty()) {
        KMSD_ASSIGN_OR_RETURN(SecureString text, ReadSecretFile(storage.master_key_file));
        KMSD_ASSIGN_OR_RETURN(SecureBytes key,
                              ParseKeyText(text, "--master-key-file " + storage.master_key_file));
        return std::optional<SecureBytes>(std::move(key));
    }
    if (const char* env = std::getenv("KMSD_MASTER_KEY"); env != nullptr && *env != '\0') {
        KMSD_ASSIGN_OR_RETURN(SecureBytes key, ParseKeyText(SecureString(env), "KMSD_MASTER_KEY"));
        return std::optional<SecureBytes>(std::move(key));
    }
    return std::optional<SecureBytes>();
}

// The data directory's master.key, or a new one when the database holds no keys yet.
Result<SecureBytes> LoadOrCreateMasterKey(const StorageOptions& storage, bool database_has_keys) {
    const std::string path = storage.data_dir + "/master.key";
    if (!storage.in_memory) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0) {
            // Reading through a symlink is fine (Kubernetes mounts secrets that way); one that
            // leads nowhere is a mistake to report, not a path to replace with a new key.
            if (!std::filesystem::exists(path))
                return Error(ErrorCode::kInternal,
                             path + " is a symbolic link to a file that does not exist");
            KMSD_ASSIGN_OR_RETURN(SecureString text, ReadSecretFile(path));
            return ParseKeyText(text, path);
        }
    }
    if (database_has_keys)
        return Error(ErrorCode::kInternal,
                     "the database holds sealed keys but no master key was found (looked at "
                     "--master-key-file, KMSD_MASTER_KEY and " +
                         path + ")");
    SecureBytes key = hsm::RandomBytes(kMasterKeyBytes);
    if (!storage.in_memory) KMSD_RETURN_IF_ERROR(WriteKeyFileDurably(storage.data_dir, key));
    return key;
}

App::App(Options options, std::unique_ptr<storage::Catalog> catalog, std::unique_ptr<hsm::Hsm> hsm)
    : options_(std::move(options)),
      catalog_(std::move(catalog)),
      hsm_(std::move(hsm)),
      services_{*hsm_, *catalog_, clock_, usage_, policies_},
      dispatcher_(services_),
      audit_(options_.audit_ring, options_.audit_log),
      scheduler_(
          [this] {
              (void)RunDueNow();
              FlushUsage();
          },
          std::chrono::seconds(1)) {
    hsm_->set_store(catalog_.get());
    if (audit_.enabled()) services_.audit = &audit_;
    services_.managed_keys_via_service = options_.aws_managed_keys_via_service;
}

App::~App() {
    scheduler_.Stop();
    FlushUsage();
    hsm_->EvictAll();
}

void App::FlushUsage() {
    Status st = usage_.Flush(*catalog_);
    if (!st.ok()) spdlog::error("flushing key usage failed: {}", st.message());
}

Status App::RunDueNow() {
    auto report = api::RunDue(services_, clock_.Now());
    scheduler_metrics_.counts.Add(SchedulerMetrics::kRuns);
    if (!report.ok()) {
        spdlog::error("scheduled work failed: {}", report.status().message());
        return report.status();
    }
    auto& counts = scheduler_metrics_.counts;
    counts.Add(SchedulerMetrics::kRotations, static_cast<std::uint64_t>(report->rotations));
    counts.Add(SchedulerMetrics::kDeletions, static_cast<std::uint64_t>(report->deletions));
    counts.Add(SchedulerMetrics::kExpirations, static_cast<std::uint64_t>(report->expirations));
    if (report->rotations + report->deletions + report->expirations > 0)
        spdlog::info("scheduled work: {} rotations, {} deletions, {} expired key materials",
                     report->rotations, report->deletions, report->expirations);
    return Status::Ok();
}

Status App::MoveClock(const std::function<Result<double>(double offset)>& next_offset) {
    std::lock_guard lock(clock_mu_);
    KMSD_ASSIGN_OR_RETURN(const double offset_seconds, next_offset(clock_.offset()));
    if (offset_seconds < clock_.offset())
        return Error(ErrorCode::kValidation, "the clock can only move forward");
    const std::string text = std::to_string(offset_seconds);
    storage::Change change;
    change.put_meta.emplace_back(kClockMeta, Bytes(text.begin(), text.end()));
    KMSD_RETURN_IF_ERROR(catalog_->Apply(change));
    clock_.set_offset(offset_seconds);
    return RunDueNow();
}

Result<std::unique_ptr<App>> App::Open(const Options& options) {
    KMSD_ASSIGN_OR_RETURN(std::optional<SecureBytes> given_master, GivenMasterKey(options.storage));
    std::string db_path = ":memory:";
    if (!options.storage.in_memory) {
        KMSD_RETURN_IF_ERROR(EnsureDataDir(options.storage.data_dir));
        db_path = options.storage.data_dir + "/kmsd.db";
    }
    // Where startup time goes, for the operator of a large database (design.md §8: < 1 s with
    // 100,000 keys).
    using Ms = std::chrono::duration<double, std::milli>;
    auto mark = std::chrono::steady_clock::now();
    const auto lap = [&mark] {
        const auto now = std::chrono::steady_clock::now();
        const double ms = Ms(now - mark).count();
        mark = now;
        return ms;
    };
    auto opened = storage::Catalog::Open(db_path);
    if (!opened.ok()) {
        // Name the file and, for damage, what to do: this is the message an operator sees.
        std::string why = opened.status().message();
        if (why.find(db_path) == std::string::npos) why = "database " + db_path + ": " + why;
        if (why.find("malformed") != std::string::npos ||
            why.find("not a database") != std::string::npos)
            why += " (the file is damaged; restore it from a backup)";
        return Error(opened.status().code(), why);
    }
    auto catalog = std::move(*opened);
    const double catalog_ms = lap();
    for (const auto& arn : catalog->KeysWithoutMaterial())
        spdlog::error(
            "key {} has no key material in {} (the database is damaged): it is listed and "
            "described, its cryptographic operations fail with KMSInternalException",
            arn, db_path);
    KMSD_ASSIGN_OR_RETURN(auto check, catalog->GetMeta(kCheckMeta));
    const bool has_keys = check.has_value() || catalog->KeyCount() > 0;
    SecureBytes master;
    if (given_master) {
        master = std::move(*given_master);
    } else {
        KMSD_ASSIGN_OR_RETURN(master, LoadOrCreateMasterKey(options.storage, has_keys));
    }
    KMSD_ASSIGN_OR_RETURN(auto hsm, hsm::Hsm::New(master));
    if (check) {
        if (!hsm->VerifyCheckValue(*check).ok())
            return Error(ErrorCode::kInternal,
                         "the master key does not match this database (wrong --master-key-file, "
                         "KMSD_MASTER_KEY or master.key); refusing to start");
    } else {
        KMSD_ASSIGN_OR_RETURN(Bytes value, hsm->MakeCheckValue());
        storage::Change change;
        change.put_meta.emplace_back(kCheckMeta, std::move(value));
        KMSD_RETURN_IF_ERROR(catalog->Apply(change));
    }
    KMSD_ASSIGN_OR_RETURN(auto offset, catalog->GetMeta(kClockMeta));
    std::unique_ptr<App> app(new App(options, std::move(catalog), std::move(hsm)));
    if (offset)
        app->clock_.set_offset(
            std::strtod(std::string(offset->begin(), offset->end()).c_str(), nullptr));
    app->auth_ = {options.identity.strict ? auth::AuthMode::kStrict : auth::AuthMode::kOpen,
                  options.identity.account_id, options.identity.region};
    if (!options.identity.principals.empty()) {
        KMSD_ASSIGN_OR_RETURN(app->identities_,
                              auth::IdentityStore::Load(options.identity.principals));
    }
    if (app->strict_auth()) {
        // Policies and grants may name only principals the file defines (design.md §5).
        const auth::IdentityStore* ids = &app->identities_;
        app->services_.principal_exists = [ids](const std::string& p) { return ids->Knows(p); };
    }
    {
        xks::TransportOptions xks_options;
        for (const auto& mapping : options.xks.endpoint_map)
            KMSD_RETURN_IF_ERROR(xks::AddEndpointMapping(xks_options, mapping));
        xks_options.ca_file = options.xks.ca_file;
        xks_options.timeout = std::chrono::milliseconds(options.xks.timeout_ms);
        KMSD_ASSIGN_OR_RETURN(app->xks_, xks::HttpsTransport::Create(std::move(xks_options)));
        app->services_.xks = app->xks_.get();
    }
    KMSD_RETURN_IF_ERROR(app->audit_.Start());
    const double keys_ms = lap();  // master key, HSM, identities, audit log
    KMSD_RETURN_IF_ERROR(app->ApplySeed());
    // Catch up on whatever fell due while kmsd was not running, before serving. A failure here
    // (disk full, say) is logged and left to the scheduler's next tick: refusing to start would
    // turn one bad batch into a restart loop. Batches commit as they go, so progress is kept.
    (void)app->RunDueNow();
    spdlog::info(
        "loaded {} keys: catalog {:.1f} ms, master key and identities {:.1f} ms, seed and "
        "catch-up {:.1f} ms",
        app->catalog_->KeyCount(), catalog_ms, keys_ms, lap());
    app->scheduler_.Start();
    return app;
}

Result<api::Caller> App::Authenticate(const auth::SignedRequest& req) const {
    const double wall =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return auth::Authenticate(identities_, auth_, req, wall);
}

Status App::Reset() {
    KMSD_RETURN_IF_ERROR(catalog_->Reset({kClockMeta}));
    hsm_->EvictAll();
    usage_.Clear();
    audit_.Clear();  // each test of a suite sees its own calls; the --audit-log file keeps all
    clock_.set_offset(0);
    // A seeded server resets to its seed: fixtures keep their keys, IDs and material.
    return ApplySeed();
}

Status App::ApplySeed() {
    const StorageOptions& storage = options_.storage;
    if (storage.seed_file.empty()) return Status::Ok();
    KMSD_ASSIGN_OR_RETURN(SeedReport seeded,
                          ApplySeedFile(services_, storage.seed_file, storage.seed_optional,
                                        options_.identity.account_id, options_.identity.region));
    if (seeded.keys + seeded.aliases > 0)
        spdlog::info("seeded {} keys and {} aliases from {}", seeded.keys, seeded.aliases,
                     storage.seed_file);
    return Status::Ok();
}

}  // namespace kmsd
