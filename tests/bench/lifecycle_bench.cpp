// Prints how long kmsd takes to rotate, then delete, N keys that fall due at the same instant
// (issue 5), and the in-process Encrypt rate on another key before and while that happens.
// A program that prints numbers, never a pass/fail test.  Usage: kmsd_bench_lifecycle [N]
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "api/dispatcher.h"
#include "api/lifecycle.h"
#include "api/resolve.h"

using namespace kmsd;
using Clock_ = std::chrono::steady_clock;

namespace {

constexpr char kAccount[] = "111122223333";
constexpr char kRegion[] = "us-east-1";

double Seconds(Clock_::time_point since) {
    return std::chrono::duration<double>(Clock_::now() - since).count();
}

// Creates `n` keys in batches (one transaction each) with their due fields set by `due`.
void MakeKeys(api::Services& s, int n, const std::function<void(storage::KeyRecord&)>& due) {
    for (int done = 0; done < n;) {
        storage::Change change;
        for (int i = 0; i < 1000 && done < n; ++i, ++done) {
            auto key = std::make_shared<storage::KeyRecord>();
            key->account = kAccount;
            key->region = kRegion;
            key->key_id = api::NewUuid();
            key->arn = api::KeyArn(kRegion, kAccount, key->key_id);
            key->creation_date = s.clock.Now();
            key->policy = "{}";
            auto sealed = s.hsm.GenerateKey(key->arn, key->key_spec).value();
            storage::AddMaterial(change, *key, {sealed.material_id, key->creation_date, ""},
                                 std::move(sealed.sealed));
            due(*key);
            change.put_keys.push_back(std::move(key));
        }
        if (!s.catalog.Apply(change).ok()) std::abort();
    }
}

// Encrypt calls per second through Dispatch() while `busy` is true (or for `seconds`).
double EncryptRate(const api::Dispatcher& d, const std::string& key_id, double seconds,
                   const std::atomic<bool>* busy) {
    api::Caller caller{kAccount, kRegion, "arn:aws:iam::111122223333:root", "", nullptr, {}, {}};
    const std::string body = "{\"KeyId\":\"" + key_id + "\",\"Plaintext\":\"AAECAwQFBgc=\"}";
    auto start = Clock_::now();
    long calls = 0;
    while (busy ? busy->load() : Seconds(start) < seconds) {
        auto r =
            d.Dispatch(caller, "TrentService.Encrypt", "application/x-amz-json-1.1", body, "b");
        if (r.http_status != 200) std::abort();
        ++calls;
    }
    return calls / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
    char tmpl[] = "/tmp/kmsd-bench-XXXXXX";
    const std::filesystem::path dir = mkdtemp(tmpl);
    auto catalog = storage::Catalog::Open((dir / "kmsd.db").string()).value();
    auto hsm = hsm::Hsm::New(SecureBytes(32, 3)).value();
    hsm->set_store(catalog.get());
    OffsetClock clock;
    api::UsageTracker usage;
    api::authz::PolicyCache policies;
    api::Services s{*hsm, *catalog, clock, usage, policies};
    api::Dispatcher dispatcher(s);

    const double due_at = clock.Now() + 1000;
    MakeKeys(s, n, [&](storage::KeyRecord& k) {
        k.rotation_enabled = true;
        k.rotation_period_days = 365;
        k.next_rotation_date = due_at;
    });
    std::string other;
    MakeKeys(s, 1, [&](storage::KeyRecord& k) { other = k.key_id; });
    std::printf("keys: %d, each due for rotation at the same instant\n", n);

    const double baseline = EncryptRate(dispatcher, other, 2.0, nullptr);
    std::atomic<bool> busy{true};
    double during = 0;
    std::thread load([&] { during = EncryptRate(dispatcher, other, 0, &busy); });
    auto start = Clock_::now();
    auto report = api::RunDue(s, due_at + 1).value();
    const double rotate_s = Seconds(start);
    busy = false;
    load.join();
    std::printf("rotated %d keys in %.2f s (%.0f keys/s)\n", report.rotations, rotate_s,
                report.rotations / rotate_s);
    std::printf("Encrypt on another key, in process: %.0f/s before, %.0f/s during (%.0f%%)\n",
                baseline, during, 100.0 * during / baseline);

    // Now schedule every rotated key for deletion at one instant and let it fall due.
    storage::Change change;
    const double delete_at = due_at + 2000;
    for (const auto& key : catalog->ListKeys(kAccount, kRegion, "", n + 1)) {
        if (key->key_id == other) continue;
        auto next = std::make_shared<storage::KeyRecord>(*key);
        next->state = storage::KeyState::kPendingDeletion;
        next->deletion_date = delete_at;
        change.put_keys.push_back(std::move(next));
    }
    if (!catalog->Apply(change).ok()) std::abort();
    busy = true;
    std::thread load2([&] { during = EncryptRate(dispatcher, other, 0, &busy); });
    start = Clock_::now();
    report = api::RunDue(s, delete_at + 1).value();
    const double delete_s = Seconds(start);
    busy = false;
    load2.join();
    std::printf("deleted %d keys in %.2f s (%.0f keys/s)\n", report.deletions, delete_s,
                report.deletions / delete_s);
    std::printf("Encrypt on another key during deletion: %.0f/s (%.0f%% of before)\n", during,
                100.0 * during / baseline);
    std::filesystem::remove_all(dir);
    return 0;
}
