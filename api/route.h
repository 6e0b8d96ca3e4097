// The route table's vocabulary (design.md §2 steps 3-5): what each operation declares about its
// authorization and the keys it works on. The table itself is in api/dispatcher.cpp; the one
// place that applies a declaration is api/access.cpp (OpContext::Key and its siblings). An
// operation never resolves or authorizes a key itself: it only says when it needs the key.
#pragma once

#include <span>
#include <string_view>

#include "api/json.h"
#include "common/status.h"

namespace kmsd::storage {
struct KeyRecord;
}

namespace kmsd::api {

struct OpContext;
class Request;

// One operation: the request (validated against the model) in, the response body out.
using Handler = Result<Json> (*)(OpContext&, const Request&);

// Which key references a member accepts besides key IDs and key ARNs (kms-reference §2.2).
enum class AliasRefs {
    kAllowed,     // alias names and alias ARNs too
    kRejected,    // NotFoundException "Invalid keyId '<ref>'" when the key is resolved
    kInvalidArn,  // InvalidArnException before the operation runs (CreateGrant)
};

// Where a route's key comes from.
enum class KeyFrom {
    kNone,        // the route has no such key
    kMember,      // the member holds the key reference
    kCiphertext,  // the ciphertext's header names the key; the member, if given, must name the
                  // same key (Decrypt, ReEncrypt's source: kms-reference §4.3-4.4)
    kAlias,       // the member is an alias name of the caller's; the key is its target
    kGrant,       // the grant the request names is on the key (RetireGrant); the operation finds
                  // it and decides whether the key policy must be asked (OpContext::Authorize)
};

// How the key is authorized for the action.
enum class KeyAuthz {
    kPolicyAndGrants,  // key policy, identity policies and grants (api/authorize.h)
    kPolicyOnly,       // grants not consulted (RetireGrant: a grant's right to retire covers
                       // only that grant, which the operation checks itself)
    kNone,             // looked up, never authorized: the key filters an IAM-only listing
};

// The key states a route works in (kms-reference §5.2). Errors are AWS's per state.
enum class KeyStates {
    kAny,
    kEnabled,                     // Disabled → DisabledException; others KMSInvalidStateException
    kNotPendingDeletion,          // PendingDeletion → KMSInvalidStateException
    kNotPendingDeletionOrImport,  // EnableKey/DisableKey
    kPendingDeletion,             // CancelKeyDeletion: "<ARN> is not pending deletion."
};

// Key usages and families of key specs, as bit sets.
namespace usage {
constexpr unsigned kEncryptDecrypt = 1u << 0;
constexpr unsigned kSignVerify = 1u << 1;
constexpr unsigned kGenerateVerifyMac = 1u << 2;
constexpr unsigned kKeyAgreement = 1u << 3;
constexpr unsigned kAny = 0xFu;
}  // namespace usage
namespace spec {
constexpr unsigned kSymmetric = 1u << 0;  // SYMMETRIC_DEFAULT
constexpr unsigned kRsa = 1u << 1;        // RSA_2048, RSA_3072, RSA_4096
constexpr unsigned kEcc = 1u << 2;        // ECC_NIST_P256/P384/P521, ECC_SECG_P256K1
constexpr unsigned kEdwards = 1u << 3;    // ECC_NIST_EDWARDS25519
constexpr unsigned kHmac = 1u << 4;       // HMAC_224/256/384/512
constexpr unsigned kSm2 = 1u << 5;        // SM2 (China Regions)
constexpr unsigned kMlDsa = 1u << 6;      // ML_DSA_44/65/87
constexpr unsigned kAny = 0x7Fu;
}  // namespace spec

// The keys an operation accepts: any of `usages` with any of `specs`. The asymmetric issues
// declare e.g. Sign {kSignVerify, kRsa|kEcc|kEdwards|kSm2|kMlDsa}, GenerateMac
// {kGenerateVerifyMac, kHmac}, DeriveSharedSecret {kKeyAgreement, kEcc|kSm2}, Encrypt
// {kEncryptDecrypt, kSymmetric|kRsa|kSm2}. CheckKeyKinds gives the errors.
struct KeyKinds {
    unsigned usages = usage::kAny;
    unsigned specs = spec::kAny;
};
constexpr KeyKinds kAnyKey{};
constexpr KeyKinds kSymmetricEncryption{usage::kEncryptDecrypt, spec::kSymmetric};

// One key of a route: where it comes from, which references name it, how it is authorized and
// which keys qualify. Built with the chainable setters below, so a table row reads as a sentence.
struct KeyDecl {
    KeyFrom from = KeyFrom::kNone;
    const char* member = nullptr;  // the request member naming the key
    std::string_view action = {};  // IAM action (without "kms:"); empty: the route's
    AliasRefs aliases = AliasRefs::kRejected;
    bool cross_account = false;  // another account's key ARN (or alias ARN) may name it
    KeyAuthz authz = KeyAuthz::kPolicyAndGrants;
    KeyStates states = KeyStates::kAny;
    KeyKinds kinds = kAnyKey;
    std::string_view usage_op = {};  // <Operation> in InvalidKeyUsage texts; empty: the route's

    constexpr KeyDecl Aliases(AliasRefs a = AliasRefs::kAllowed) const {
        KeyDecl d = *this;
        d.aliases = a;
        return d;
    }
    constexpr KeyDecl CrossAccount() const {
        KeyDecl d = *this;
        d.cross_account = true;
        return d;
    }
    constexpr KeyDecl Action(std::string_view a) const {
        KeyDecl d = *this;
        d.action = a;
        return d;
    }
    constexpr KeyDecl Authz(KeyAuthz a) const {
        KeyDecl d = *this;
        d.authz = a;
        return d;
    }
    constexpr KeyDecl States(KeyStates s) const {
        KeyDecl d = *this;
        d.states = s;
        return d;
    }
    constexpr KeyDecl Accepts(KeyKinds k, std::string_view op_in_message = {}) const {
        KeyDecl d = *this;
        d.kinds = k;
        d.usage_op = op_in_message;
        return d;
    }
};

constexpr KeyDecl KeyIn(const char* member) { return {KeyFrom::kMember, member}; }
constexpr KeyDecl KeyOfCiphertext(const char* member) { return {KeyFrom::kCiphertext, member}; }
constexpr KeyDecl KeyOfAlias(const char* member) { return {KeyFrom::kAlias, member}; }
constexpr KeyDecl KeyOfGrant(const char* member) { return {KeyFrom::kGrant, member}; }

// When a route's key is resolved, authorized and checked.
enum class Resolve {
    kWhenAsked,      // when the operation first calls OpContext::Key(): it validates members
                     // first, or works on the key inside a Catalog write
    kBeforeHandler,  // by the dispatcher, before the operation runs (nothing precedes the key);
                     // the operation's Key() call returns the cached result
};

struct Route {
    std::string_view name;
    Handler handler = nullptr;
    std::string_view action = {};        // IAM action (without "kms:"); empty: the route's name
    bool iam_only = false;               // authorized by identity policies alone, on resource "*"
    const char* alias_member = nullptr;  // an alias the request names: IAM permission on it too
    KeyDecl key = {};                    // the key the operation acts on
    KeyDecl target = {};                 // a second key: ReEncrypt's destination, an alias target
    Resolve resolve = Resolve::kWhenAsked;

    constexpr Route Action(std::string_view a) const {
        Route r = *this;
        r.action = a;
        return r;
    }
    constexpr Route IamOnly() const {
        Route r = *this;
        r.iam_only = true;
        return r;
    }
    constexpr Route Alias(const char* member) const {
        Route r = *this;
        r.alias_member = member;
        return r;
    }
    constexpr Route Key(KeyDecl k, Resolve when = Resolve::kWhenAsked) const {
        Route r = *this;
        r.key = k;
        r.resolve = when;
        return r;
    }
    constexpr Route Target(KeyDecl k) const {
        Route r = *this;
        r.target = k;
        return r;
    }
};

constexpr Route Op(std::string_view name, Handler handler) { return {name, handler}; }

// The IAM action of a route, and of one of its keys.
std::string_view ActionOf(const Route& route);
std::string_view ActionOf(const Route& route, const KeyDecl& key);

// InvalidKeyUsageException unless `key` is one of `kinds`: "<ARN> key usage is <USAGE> which is
// not valid for <op>." (kms-reference §3.1, [S]), then for a spec outside the set "<ARN> key
// KeySpec is <SPEC> which is not valid for <op>." (local-kms's text; AWS's is not recorded).
Status CheckKeyKinds(const storage::KeyRecord& key, KeyKinds kinds, std::string_view op);

// The implemented routes, sorted by name; the route for `operation`, or null.
std::span<const Route> Routes();
const Route* FindRoute(std::string_view operation);
// The route of the model operation with index `operation` (api/validate.h), or null.
const Route* RouteOf(int operation);

}  // namespace kmsd::api
