// Asymmetric and HMAC keys: GetPublicKey, Sign, Verify, GenerateMac, VerifyMac,
// DeriveSharedSecret (kms-reference §3.3-3.6). The route table has already resolved,
// authorized and checked the key's state and usage; these check the algorithm against the
// key's spec and the message against the algorithm.
#include "api/ops/common.h"
#include "hsm/keyspec.h"

namespace kmsd::api::ops {
namespace {

Json NameList(std::span<const std::string_view> names) {
    Json out = Json::array();
    for (auto n : names) out.push_back(std::string(n));
    return out;
}

// Sign's and Verify's algorithm and message, checked against the key and each other.
struct SignInput {
    const hsm::SigningAlgorithmInfo* algorithm;
    bool is_digest;
    SecureBytes message;
};

Result<SignInput> SignInputOf(const storage::KeyRecord& key, const Request& req) {
    const std::string name = req.String("SigningAlgorithm");
    const hsm::SigningAlgorithmInfo* alg = hsm::FindSigningAlgorithm(name);
    if (alg == nullptr || !hsm::Lists(SpecOf(key).signing, name))
        return IncompatibleAlgorithm(key, name);
    const std::string type = req.String("MessageType", "RAW");
    SignInput in{alg, type == "DIGEST", req.Blob("Message")};
    // Message types each algorithm takes (kms-reference §3.3, §9.4); AWS's texts for these are
    // not recorded (README: compatibility).
    if (type == "EXTERNAL_MU")
        return Error(ErrorCode::kValidation,
                     "MessageType EXTERNAL_MU is valid only with the ML_DSA_SHAKE_256 signing "
                     "algorithm.");
    if (alg->scheme == hsm::SigScheme::kEd25519 && in.is_digest)
        return Error(ErrorCode::kValidation,
                     "The ED25519_SHA_512 signing algorithm requires MessageType RAW.");
    if (alg->scheme == hsm::SigScheme::kEd25519ph && !in.is_digest)
        return Error(ErrorCode::kValidation,
                     "The ED25519_PH_SHA_512 signing algorithm requires MessageType DIGEST.");
    if (in.is_digest && in.message.size() != alg->digest_bytes)
        return Error(ErrorCode::kValidation,
                     "Digest is invalid length for algorithm " + name + ".");
    return in;
}

Result<const hsm::MacAlgorithmInfo*> MacAlgorithmOf(const storage::KeyRecord& key,
                                                    const Request& req) {
    const std::string name = req.String("MacAlgorithm");
    const hsm::MacAlgorithmInfo* alg = hsm::FindMacAlgorithm(name);
    if (alg == nullptr || !hsm::Lists(SpecOf(key).mac, name))
        return IncompatibleAlgorithm(key, name);
    return alg;
}

}  // namespace

Result<Json> GetPublicKey(OpContext& ctx, const Request& /*req*/) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    const hsm::KeySpecInfo& spec = SpecOf(*key);
    if (!hsm::IsAsymmetric(spec))
        return Error(ErrorCode::kUnsupportedOperation, key->arn + " key spec is " + key->key_spec +
                                                           " which is not valid for GetPublicKey.");
    KMSD_ASSIGN_OR_RETURN(Bytes der, ctx.services.hsm.PublicKey(RefOf(*key)));
    Json out = Json::object();
    out["CustomerMasterKeySpec"] = Str(key->key_spec);
    if (key->key_usage == "ENCRYPT_DECRYPT")
        out["EncryptionAlgorithms"] = NameList(spec.encryption);
    if (key->key_usage == "KEY_AGREEMENT") out["KeyAgreementAlgorithms"] = Json::array({"ECDH"});
    out["KeyId"] = Str(key->arn);
    out["KeySpec"] = Str(key->key_spec);
    out["KeyUsage"] = Str(key->key_usage);
    out["PublicKey"] = BlobJson(der);
    if (key->key_usage == "SIGN_VERIFY") out["SigningAlgorithms"] = NameList(spec.signing);
    return out;
}

Result<Json> Sign(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(SignInput in, SignInputOf(*key, req));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    KMSD_ASSIGN_OR_RETURN(Bytes signature, ctx.services.hsm.Sign(RefOf(*key), *in.algorithm,
                                                                 in.is_digest, in.message));
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    out["Signature"] = BlobJson(signature);
    out["SigningAlgorithm"] = std::string(in.algorithm->name);
    ctx.RecordUse(*key, "Sign");
    return out;
}

Result<Json> Verify(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(SignInput in, SignInputOf(*key, req));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    const SecureBytes signature = req.Blob("Signature");
    // A wrong signature is KMSInvalidSignatureException; Verify never answers false.
    KMSD_RETURN_IF_ERROR(
        ctx.services.hsm.Verify(RefOf(*key), *in.algorithm, in.is_digest, in.message, signature));
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    out["SignatureValid"] = true;
    out["SigningAlgorithm"] = std::string(in.algorithm->name);
    ctx.RecordUse(*key, "Verify");
    return out;
}

Result<Json> GenerateMac(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(auto alg, MacAlgorithmOf(*key, req));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    KMSD_ASSIGN_OR_RETURN(SecureBytes mac,
                          ctx.services.hsm.GenerateMac(RefOf(*key), *alg, req.Blob("Message")));
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    out["Mac"] = BlobJson(mac);
    out["MacAlgorithm"] = std::string(alg->name);
    ctx.RecordUse(*key, "GenerateMac");
    return out;
}

Result<Json> VerifyMac(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(auto alg, MacAlgorithmOf(*key, req));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    // A wrong MAC is KMSInvalidMacException; VerifyMac never answers false.
    KMSD_RETURN_IF_ERROR(
        ctx.services.hsm.VerifyMac(RefOf(*key), *alg, req.Blob("Message"), req.Blob("Mac")));
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    out["MacAlgorithm"] = std::string(alg->name);
    out["MacValid"] = true;
    ctx.RecordUse(*key, "VerifyMac");
    return out;
}

Result<Json> DeriveSharedSecret(OpContext& ctx, const Request& req) {
    if (req.Has("Recipient"))
        return Error(ErrorCode::kUnsupportedOperation,
                     "Recipient (Nitro Enclaves) is not supported by kmsd yet.");
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    const SecureBytes peer = req.Blob("PublicKey");
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    KMSD_ASSIGN_OR_RETURN(SecureBytes secret,
                          ctx.services.hsm.DeriveSharedSecret(RefOf(*key), peer));
    Json out = Json::object();
    out["KeyAgreementAlgorithm"] = "ECDH";
    out["KeyId"] = Str(key->arn);
    out["KeyOrigin"] = Str(key->origin);
    out["SharedSecret"] = SecretJson(secret);
    ctx.RecordUse(*key, "DeriveSharedSecret");
    return out;
}

}  // namespace kmsd::api::ops
