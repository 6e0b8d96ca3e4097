// Prints the cost of authorization on the hot path (issue 4): in-process Encrypt calls per
// second on a key with the default policy (root caller) against a key with a 10-statement policy
// with conditions and 100 grants (a role allowed by the policy's last statement; a user allowed
// only by a grant), and Encrypt on a default key while another key holds 50,000 grants.
// A program that prints numbers, never a pass/fail test.  Usage: kmsd_bench_authz [cpu seconds]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "api/dispatcher.h"
#include "api/json.h"

using namespace kmsd;
using Clock_ = std::chrono::steady_clock;

namespace {

constexpr char kAccount[] = "111122223333";
constexpr char kRegion[] = "us-east-1";

struct Bench {
    std::unique_ptr<storage::Catalog> catalog = storage::Catalog::Open(":memory:").value();
    std::unique_ptr<hsm::Hsm> hsm = hsm::Hsm::New(SecureBytes(32, 9)).value();
    OffsetClock clock;
    api::UsageTracker usage;
    api::authz::PolicyCache policies;
    api::Services services{*hsm, *catalog, clock, usage, policies};
    api::Dispatcher dispatcher{services};
    api::Caller root{kAccount, kRegion, "arn:aws:iam::111122223333:root", "", nullptr, {}, {}};

    Bench() { hsm->set_store(catalog.get()); }

    api::Json Call(const api::Caller& caller, const std::string& op, const std::string& body) {
        auto r = dispatcher.Dispatch(caller, "TrentService." + op, "application/x-amz-json-1.1",
                                     body, "b");
        if (r.http_status != 200) {
            std::fprintf(stderr, "%s failed: %.*s\n", op.c_str(), static_cast<int>(r.body.size()),
                         r.body.data());
            std::exit(1);
        }
        return r.body.empty() ? api::Json() : api::Json::parse(r.body);
    }
    std::string NewKey(const std::string& body) {
        return api::ToStd(
            Call(root, "CreateKey", body)["KeyMetadata"]["KeyId"].get<SecureString>());
    }
    void Grant(const std::string& key, const std::string& grantee, const std::string& extra) {
        Call(root, "CreateGrant",
             "{\"KeyId\":\"" + key + "\",\"GranteePrincipal\":\"" + grantee +
                 "\",\"Operations\":[\"Encrypt\",\"Decrypt\"]" + extra + "}");
    }
};

// This thread's CPU time: on a shared VM, wall time also counts other tenants' steal.
double CpuSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// One measured workload: a caller and a request body, with the CPU time its calls took.
struct Workload {
    const api::Caller* caller;
    std::string body;
    double cpu = 0;
    long calls = 0;
    double Rate() const { return calls / cpu; }
};

// Runs the workloads in alternating batches of 50 calls for `seconds` of CPU time in total, so
// that drift in the machine's speed (shared VM, frequency) hits all of them alike.
void Measure(Bench& b, std::vector<Workload*> loads, double seconds) {
    const double end = CpuSeconds() + seconds;
    while (CpuSeconds() < end) {
        for (auto* w : loads) {
            const double start = CpuSeconds();
            for (int i = 0; i < 50; ++i) {
                auto r = b.dispatcher.Dispatch(*w->caller, "TrentService.Encrypt",
                                               "application/x-amz-json-1.1", w->body, "b");
                if (r.http_status != 200) std::abort();
            }
            w->cpu += CpuSeconds() - start;
            w->calls += 50;
        }
    }
}

std::string Quote(const std::string& s) { return api::ToStd(api::Json(api::ToSecure(s)).dump()); }

// Nine statements for other principals, each with a condition, then the one that matters.
std::string TenStatementPolicy() {
    std::string p = "{\"Version\":\"2012-10-17\",\"Statement\":[";
    p += "{\"Sid\":\"admin\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
         "\"arn:aws:iam::111122223333:root\"},\"Action\":[\"kms:Create*\",\"kms:Describe*\","
         "\"kms:Put*\",\"kms:Get*\",\"kms:List*\",\"kms:Revoke*\"],\"Resource\":\"*\"},";
    for (int i = 1; i < 9; ++i)
        p += "{\"Sid\":\"s" + std::to_string(i) +
             "\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/u" +
             std::to_string(i) +
             "\"},\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\"],\"Resource\":\"*\",\"Condition\":{"
             "\"StringEquals\":{\"kms:EncryptionContext:tenant\":\"t" +
             std::to_string(i) + "\"}}},";
    p += "{\"Sid\":\"app\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
         "\"arn:aws:iam::111122223333:role/app\"},\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\"],"
         "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"kms:EncryptionContext:tenant\":"
         "\"t1\"},\"Bool\":{\"aws:SecureTransport\":\"false\"}}}]}";
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 6.0;
    Bench b;
    const std::string plain = "\"Plaintext\":\"AAECAwQFBgc=\"";
    const std::string ctx = ",\"EncryptionContext\":{\"tenant\":\"t1\",\"app\":\"bench\"}";

    const std::string default_key = b.NewKey("{}");
    const std::string guarded = b.NewKey("{\"Policy\":" + Quote(TenStatementPolicy()) + "}");
    for (int i = 0; i < 99; ++i)
        b.Grant(guarded, "arn:aws:iam::111122223333:user/g" + std::to_string(i),
                ",\"Constraints\":{\"EncryptionContextSubset\":{\"tenant\":\"t1\"}}");
    b.Grant(guarded, "arn:aws:iam::111122223333:user/bob",
            ",\"Constraints\":{\"EncryptionContextSubset\":{\"tenant\":\"t1\"}}");

    auto no_policies = std::make_shared<const std::vector<api::authz::Policy>>();
    api::Caller app{kAccount, kRegion,     "arn:aws:sts::111122223333:assumed-role/app/s",
                    "",       no_policies, "127.0.0.1",
                    {}};
    api::Caller bob{kAccount,    kRegion, "arn:aws:iam::111122223333:user/bob", "", no_policies,
                    "127.0.0.1", {}};
    const std::string default_body = "{\"KeyId\":\"" + default_key + "\"," + plain + ctx + "}";
    const std::string guarded_body = "{\"KeyId\":\"" + guarded + "\"," + plain + ctx + "}";

    Workload base{&b.root, default_body}, policy{&app, guarded_body}, grant{&bob, guarded_body};
    Measure(b, {&base, &policy, &grant}, seconds);
    std::printf("encrypt, default policy, root caller:         %8.0f calls/cpu-s\n", base.Rate());
    std::printf("encrypt, 10-statement policy + 100 grants:\n");
    std::printf("  role allowed by the last statement:         %8.0f calls/cpu-s (%+.1f%%)\n",
                policy.Rate(), 100.0 * (policy.Rate() / base.Rate() - 1));
    std::printf("  user allowed only by a grant:               %8.0f calls/cpu-s (%+.1f%%)\n",
                grant.Rate(), 100.0 * (grant.Rate() / base.Rate() - 1));

    const std::string crowded = b.NewKey("{}");
    const auto t0 = Clock_::now();
    for (int i = 0; i < 50000; ++i)
        b.Grant(crowded, "arn:aws:iam::111122223333:user/c" + std::to_string(i), "");
    std::printf("50,000 CreateGrant on one key:                %8.2f s\n",
                std::chrono::duration<double>(Clock_::now() - t0).count());
    Workload after{&b.root, default_body};
    Measure(b, {&after}, seconds / 3);
    std::printf("encrypt on another key after that:            %8.0f calls/cpu-s (%+.1f%%)\n",
                after.Rate(), 100.0 * (after.Rate() / base.Rate() - 1));
    return 0;
}
