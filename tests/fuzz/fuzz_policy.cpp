// The key-policy parser and evaluator (api/authz/policy.h): the input is a policy document,
// parsed as a key policy and as an identity policy; whatever parses is evaluated against fixed
// request contexts that carry a value for every condition key kmsd computes, so conditions of
// every operator family are reached.
#include <map>

#include "api/authz/policy.h"
#include "fuzz/fuzz_common.h"

namespace {

using namespace kmsd;
using namespace kmsd::api::authz;

constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";

std::vector<RequestContext> Contexts() {
    std::map<std::string, std::vector<std::string>> keys = {
        {"kms:encryptioncontext:tenant", {"t1"}},
        {"kms:encryptioncontextkeys", {"tenant", "purpose"}},
        {"kms:calleraccount", {"111122223333"}},
        {"kms:encryptionalgorithm", {"SYMMETRIC_DEFAULT"}},
        {"kms:requestalias", {"alias/fuzz"}},
        {"kms:resourcealiases", {"alias/fuzz", "alias/other"}},
        {"kms:keyspec", {"SYMMETRIC_DEFAULT"}},
        {"kms:keyusage", {"ENCRYPT_DECRYPT"}},
        {"kms:keyorigin", {"AWS_KMS"}},
        {"kms:multiregion", {"false"}},
        {"kms:grantoperations", {"Encrypt", "Decrypt"}},
        {"kms:granteeprincipal", {"arn:aws:iam::111122223333:role/app"}},
        {"kms:schedulekeydeletionpendingwindowindays", {"7"}},
        {"kms:bypasspolicylockoutsafetycheck", {"true"}},
        {"aws:principalarn", {"arn:aws:iam::111122223333:role/app"}},
        {"aws:principalaccount", {"111122223333"}},
        {"aws:principaltype", {"AssumedRole"}},
        {"aws:sourceip", {"10.1.2.3"}},
        {"aws:securetransport", {"false"}},
        {"aws:requestedregion", {"us-east-1"}},
        {"aws:currenttime", {"2024-01-01T00:00:00Z"}},
        {"aws:epochtime", {"1704067200"}},
        {"aws:resourcetag/team", {"blue"}},
        {"aws:requesttag/team", {"red"}},
        {"aws:tagkeys", {"team"}},
    };
    std::vector<RequestContext> out(3);
    out[0] = {"kms:Encrypt", kKeyArn, "arn:aws:sts::111122223333:assumed-role/app/s",
              "111122223333", keys};
    out[1] = {"kms:CreateGrant", kKeyArn, "arn:aws:iam::444455556666:user/bob", "444455556666", {}};
    keys["aws:sourceip"] = {"2001:db8::1"};
    out[2] = {"kms:PutKeyPolicy", kKeyArn, "arn:aws:iam::111122223333:root", "111122223333", keys};
    return out;
}

void Exercise(const Policy& policy, const std::vector<RequestContext>& contexts) {
    for (const auto& request : contexts) {
        const Evaluation e = policy.Evaluate(request);
        (void)e;
    }
    (void)policy.Principals();
    (void)policy.condition_keys();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<RequestContext> contexts = Contexts();
    const std::string text(fuzz::AsText(data, size));
    for (bool require_principal : {true, false}) {
        auto policy = Policy::Parse(text, require_principal);
        if (policy.ok()) Exercise(*policy, contexts);
    }
    return 0;
}
