// Encryption: Encrypt, Decrypt, ReEncrypt (symmetric keys and RSA/SM2 ENCRYPT_DECRYPT keys),
// GenerateDataKey(WithoutPlaintext), GenerateDataKeyPair(WithoutPlaintext), GenerateRandom. The
// hot path: Catalog reads and the HSM's cache only, no SQLite, no exclusive lock.
#include "hsm/crypto.h"

#include "api/key_stores.h"
#include "api/ops/common.h"
#include "hsm/blob.h"

namespace kmsd::api::ops {
namespace {

bool IsSymmetric(const storage::KeyRecord& key) { return key.key_spec == "SYMMETRIC_DEFAULT"; }

// AWS's SM2PKE plaintext limit.
constexpr std::size_t kSm2MaxPlaintext = 1024;

// What an asymmetric key can encrypt: no encryption context, and a plaintext within the
// algorithm's limit (kms-reference §3.2). Symmetric keys take anything the model allows.
Status CheckEncryptable(const storage::KeyRecord& key, const hsm::EncryptionAlgorithmInfo& alg,
                        std::size_t plaintext_bytes, const hsm::EncryptionContext& ec) {
    if (IsSymmetric(key)) return Status::Ok();
    if (!ec.empty())
        return Error(ErrorCode::kValidation,
                     "EncryptionContext is supported only with symmetric encryption KMS keys.");
    const std::size_t max =
        alg.oaep_digest != nullptr ? hsm::MaxOaepPlaintext(SpecOf(key), alg) : kSm2MaxPlaintext;
    if (plaintext_bytes > max)
        return Error(ErrorCode::kValidation,
                     "Algorithm " + std::string(alg.name) + " and key spec " + key.key_spec +
                         " cannot encrypt data larger than " + std::to_string(max) + " bytes.");
    return Status::Ok();
}

// ---- Keys in external key stores: double encryption (README: External key stores) ----
// The key's own material encrypts first (the inner blob, as for any symmetric key); the store's
// proxy then encrypts that blob under the external key. Decrypt undoes both, proxy first. Every
// failure of the proxy is KMSInvalidStateException with AWS's text for its cause.

bool InExternalStore(const storage::KeyRecord& key) { return !key.xks_key_id.empty(); }

Result<xks::Endpoint> EndpointOfKey(const OpContext& ctx, const storage::KeyRecord& key) {
    auto store = ctx.services.catalog.FindStore(key.custom_key_store_id);
    if (!store) return Error(ErrorCode::kInvalidState, key.arn + " is unavailable.");
    return ProxyEndpoint(ctx.services, *store, ParseXksConfig(store->config));
}

xks::RequestMetadata ProxyMetadata(const OpContext& ctx, const storage::KeyRecord& key) {
    return {ctx.caller.principal_arn, key.arn, ctx.operation, ctx.request_id};
}

Result<Bytes> SealWithProxy(const OpContext& ctx, const storage::KeyRecord& key,
                            const std::string& material_id, ByteView inner) {
    KMSD_ASSIGN_OR_RETURN(xks::Endpoint endpoint, EndpointOfKey(ctx, key));
    hsm::XksEnvelope envelope;
    if (!hsm::FromHexInto(material_id, envelope.material_id.data(), hsm::kMaterialIdBytes))
        return Error(ErrorCode::kInternal, "bad material id");
    const Bytes aad = hsm::XksEnvelopeHeader(envelope.material_id);
    ProxyAnswer answer;
    xks::Ciphertext ct;
    xks::Failure failure =
        CallProxy(ctx.services, endpoint, xks::KeyPath(key.xks_key_id, "encrypt"),
                  xks::EncryptRequest(ProxyMetadata(ctx, key), inner, aad), answer);
    if (failure == xks::Failure::kNone)
        failure = xks::ParseEncrypt(answer.view(), aad, inner.size(), ct);
    KMSD_RETURN_IF_ERROR(xks::ToKmsError(failure, xks::Context::kCrypto));
    envelope.metadata = std::move(ct.metadata);
    envelope.iv = std::move(ct.iv);
    envelope.tag = std::move(ct.tag);
    envelope.ciphertext = std::move(ct.ciphertext);
    return hsm::BuildXksEnvelope(envelope);
}

Result<SecureBytes> OpenWithProxy(const OpContext& ctx, const storage::KeyRecord& key,
                                  ByteView blob) {
    KMSD_ASSIGN_OR_RETURN(hsm::XksEnvelope envelope, hsm::ParseXksEnvelope(blob));
    KMSD_ASSIGN_OR_RETURN(xks::Endpoint endpoint, EndpointOfKey(ctx, key));
    const Bytes aad = hsm::XksEnvelopeHeader(envelope.material_id);
    const xks::Ciphertext ct{std::move(envelope.ciphertext), std::move(envelope.iv),
                             std::move(envelope.tag), std::move(envelope.metadata)};
    ProxyAnswer answer;
    SecureBytes inner;
    xks::Failure failure =
        CallProxy(ctx.services, endpoint, xks::KeyPath(key.xks_key_id, "decrypt"),
                  xks::DecryptRequest(ProxyMetadata(ctx, key), ct, aad), answer);
    if (failure == xks::Failure::kNone)
        failure = xks::ParseDecrypt(answer.view(), ct.ciphertext.size(), inner);
    KMSD_RETURN_IF_ERROR(xks::ToKmsError(failure, xks::Context::kCrypto));
    return inner;
}

// Encrypts under the key's current material: AWS's blob for a symmetric key (wrapped by the
// proxy for a key in an external key store), raw RSA-OAEP or SM2 ciphertext for an asymmetric
// one.
Result<Bytes> EncryptUnder(OpContext& ctx, const storage::KeyRecord& key,
                           const hsm::EncryptionAlgorithmInfo& alg, ByteView plaintext,
                           const hsm::EncryptionContext& ec) {
    const hsm::KeyRef ref = RefOf(key);
    if (!IsSymmetric(key)) return ctx.services.hsm.EncryptAsymmetric(ref, alg, plaintext);
    KMSD_ASSIGN_OR_RETURN(Bytes blob, ctx.services.hsm.Encrypt(ref, plaintext, ec));
    if (!InExternalStore(key)) return blob;
    return SealWithProxy(ctx, key, ref.material_id, blob);
}

// The key's own blob inside what the proxy returns no longer decrypts (AWS's text: the inner
// layer names the encryption context, which is what usually differs).
Result<SecureBytes> DecryptInner(OpContext& ctx, const hsm::KeyRef& ref, ByteView inner,
                                 const hsm::EncryptionContext& ec) {
    auto plaintext = ctx.services.hsm.Decrypt(ref, inner, ec);
    if (plaintext.ok() || plaintext.status().code() != ErrorCode::kInvalidCiphertext)
        return plaintext;
    return Error(ErrorCode::kInvalidState,
                 "The ciphertext that the external key store proxy submitted for decryption, or "
                 "the encryption context, is corrupted, missing, or otherwise invalid.");
}

// The plaintext of Decrypt's or ReEncrypt's ciphertext, and the key (route.key, which the
// ciphertext names) and material that made it.
struct Decrypted {
    storage::KeyPtr key;
    std::string material_id;
    const hsm::EncryptionAlgorithmInfo* algorithm;
    SecureBytes plaintext;
};

Result<Decrypted> DecryptBlob(OpContext& ctx, const Request& req, const char* context_member,
                              const char* algorithm_member) {
    const SecureBytes blob = req.Blob("CiphertextBlob");
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext ec, EncryptionContextOf(req, context_member));
    KMSD_ASSIGN_OR_RETURN(CiphertextKey source, ctx.KeyOfCiphertext(blob));
    const auto& key = *source.key;
    KMSD_ASSIGN_OR_RETURN(auto alg, EncryptionAlgorithmOf(key, req, algorithm_member));
    const hsm::KeyRef ref = RefOf(key, source.material_id);
    Decrypted out{source.key, source.material_id, alg, {}};
    if (IsSymmetric(key) && InExternalStore(key)) {
        // A dry run stops at its gate (DryRunGate, after this) without reaching the proxy.
        if (req.Bool("DryRun")) return out;
        KMSD_ASSIGN_OR_RETURN(SecureBytes inner, OpenWithProxy(ctx, key, blob));
        KMSD_ASSIGN_OR_RETURN(out.plaintext, DecryptInner(ctx, ref, inner, ec));
    } else if (IsSymmetric(key)) {
        KMSD_ASSIGN_OR_RETURN(out.plaintext,
                              source.parts ? ctx.services.hsm.Decrypt(ref, *source.parts, blob, ec)
                                           : ctx.services.hsm.Decrypt(ref, blob, ec));
    } else {
        if (!ec.empty()) return Error(ErrorCode::kInvalidCiphertext);
        KMSD_ASSIGN_OR_RETURN(out.plaintext, ctx.services.hsm.DecryptAsymmetric(ref, *alg, blob));
    }
    return out;
}

// A dry run with DryRunModifiers [IGNORE_CIPHERTEXT] (Decrypt, ReEncrypt): the ciphertext is not
// looked at, only the key the request names.
bool IgnoresCiphertext(const Request& req) {
    const auto modifiers = req.StringList("DryRunModifiers");
    return req.Bool("DryRun") &&
           std::find(modifiers.begin(), modifiers.end(), "IGNORE_CIPHERTEXT") != modifiers.end();
}

// The source key of such a dry run: without a ciphertext, the request must name it (the
// route's key member), and it is resolved and checked as the route declares.
Status SourceKeyForDryRun(OpContext& ctx, const Request& req, const char* member) {
    if (!req.Has(member))
        return Error(ErrorCode::kValidation, std::string(member) +
                                                 " is required when DryRunModifiers contains "
                                                 "IGNORE_CIPHERTEXT.");
    return ctx.Key().status();
}

Result<Json> DataKey(OpContext& ctx, const Request& req, bool with_plaintext) {
    const char* op = with_plaintext ? "GenerateDataKey" : "GenerateDataKeyWithoutPlaintext";
    if (req.Has("KeySpec") == req.Has("NumberOfBytes"))
        return Error(ErrorCode::kValidation, "Please specify either number of bytes or key spec.");
    if (req.Has("Recipient"))
        return Error(ErrorCode::kUnsupportedOperation,
                     "Recipient (Nitro Enclaves) is not supported by kmsd yet.");
    const std::size_t bytes = req.Has("NumberOfBytes")
                                  ? static_cast<std::size_t>(*req.OptInt("NumberOfBytes"))
                                  : (req.String("KeySpec") == "AES_128" ? 16 : 32);
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext ec, EncryptionContextOf(req, "EncryptionContext"));
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    const std::string& material = key->current_material_id();
    KMSD_ASSIGN_OR_RETURN(hsm::DataKey dk,
                          ctx.services.hsm.GenerateDataKey(RefOf(*key), bytes, ec));
    if (InExternalStore(*key)) {
        KMSD_ASSIGN_OR_RETURN(dk.ciphertext_blob,
                              SealWithProxy(ctx, *key, material, dk.ciphertext_blob));
    }
    ObjectWriter out;
    out.Base64("CiphertextBlob", dk.ciphertext_blob)
        .String("KeyId", key->arn)
        .String("KeyMaterialId", material);
    if (with_plaintext) out.Base64("Plaintext", dk.plaintext);
    ctx.RecordUse(*key, op);
    return ctx.ReplyText(std::move(out), material);
}

// GenerateDataKeyPair(WithoutPlaintext): a key pair of KeyPairSpec, its private key encrypted
// under the symmetric key like a data key.
Result<Json> DataKeyPair(OpContext& ctx, const Request& req, bool with_plaintext) {
    const char* op = with_plaintext ? "GenerateDataKeyPair" : "GenerateDataKeyPairWithoutPlaintext";
    if (req.Has("Recipient"))
        return Error(ErrorCode::kUnsupportedOperation,
                     "Recipient (Nitro Enclaves) is not supported by kmsd yet.");
    const std::string pair_spec = req.String("KeyPairSpec");
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext ec, EncryptionContextOf(req, "EncryptionContext"));
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    // AWS: keys in custom key stores do not make data key pairs.
    if (!key->custom_key_store_id.empty())
        return Error(
            ErrorCode::kUnsupportedOperation,
            key->arn + " origin is " + key->origin + " which is not valid for this operation.");
    const hsm::KeySpecInfo* spec = hsm::FindKeySpec(pair_spec);  // the model checked the enum
    if (spec == nullptr || !spec->key_pair_spec)
        return Error(ErrorCode::kValidation, "KeyPairSpec " + pair_spec + " is not valid.");
    // As CreateKey: SM2 only in the China Regions (README: compatibility).
    if (spec->family == hsm::KeyFamily::kSm2 && ctx.caller.region.rfind("cn-", 0) != 0)
        return Error(ErrorCode::kValidation,
                     "KeyPairSpec SM2 is supported only in the China Regions (cn-north-1, "
                     "cn-northwest-1).");
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    const std::string& material = key->current_material_id();
    KMSD_ASSIGN_OR_RETURN(hsm::DataKeyPair pair,
                          ctx.services.hsm.GenerateDataKeyPair(RefOf(*key), *spec, ec));
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    out["KeyMaterialId"] = Str(material);
    out["KeyPairSpec"] = pair_spec;
    out["PrivateKeyCiphertextBlob"] = BlobJson(pair.private_key_blob);
    if (with_plaintext) out["PrivateKeyPlaintext"] = SecretJson(pair.private_key);
    out["PublicKey"] = BlobJson(pair.public_key);
    ctx.RecordUse(*key, op);
    return out;
}

}  // namespace

Result<Json> GenerateDataKeyPair(OpContext& ctx, const Request& req) {
    return DataKeyPair(ctx, req, /*with_plaintext=*/true);
}

Result<Json> GenerateDataKeyPairWithoutPlaintext(OpContext& ctx, const Request& req) {
    return DataKeyPair(ctx, req, /*with_plaintext=*/false);
}

Result<Json> Encrypt(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext ec, EncryptionContextOf(req, "EncryptionContext"));
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(auto alg, EncryptionAlgorithmOf(*key, req, "EncryptionAlgorithm"));
    const SecureBytes plaintext = req.Blob("Plaintext");
    KMSD_RETURN_IF_ERROR(CheckEncryptable(*key, *alg, plaintext.size(), ec));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    KMSD_ASSIGN_OR_RETURN(Bytes blob, EncryptUnder(ctx, *key, *alg, plaintext, ec));
    ObjectWriter out;
    out.Base64("CiphertextBlob", blob)
        .String("EncryptionAlgorithm", alg->name)
        .String("KeyId", key->arn);
    ctx.RecordUse(*key, "Encrypt");
    // The record's keyMaterialId is the key's current material (api/audit.cpp).
    return ctx.ReplyText(std::move(out));
}

Result<Json> Decrypt(OpContext& ctx, const Request& req) {
    if (req.Has("Recipient"))
        return Error(ErrorCode::kUnsupportedOperation,
                     "Recipient (Nitro Enclaves) is not supported by kmsd yet.");
    if (IgnoresCiphertext(req)) {
        KMSD_RETURN_IF_ERROR(SourceKeyForDryRun(ctx, req, "KeyId"));
        return DryRunGate(req);
    }
    // The model made CiphertextBlob optional for IGNORE_CIPHERTEXT dry runs only.
    if (!req.Has("CiphertextBlob"))
        return Error(ErrorCode::kValidation,
                     "1 validation error detected: Value null at 'ciphertextBlob' failed to "
                     "satisfy constraint: Member must not be null");
    KMSD_ASSIGN_OR_RETURN(Decrypted d,
                          DecryptBlob(ctx, req, "EncryptionContext", "EncryptionAlgorithm"));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    ObjectWriter out;
    out.String("EncryptionAlgorithm", d.algorithm->name).String("KeyId", d.key->arn);
    // Only symmetric keys name their material (kms-reference §9.3).
    const bool names_material = IsSymmetric(*d.key);
    if (names_material) out.String("KeyMaterialId", d.material_id);
    out.Base64("Plaintext", d.plaintext);
    ctx.RecordUse(*d.key, "Decrypt");
    return ctx.ReplyText(std::move(out), names_material ? std::move(d.material_id) : std::string());
}

Result<Json> ReEncrypt(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext dest_ec,
                          EncryptionContextOf(req, "DestinationEncryptionContext"));
    if (IgnoresCiphertext(req)) {
        KMSD_RETURN_IF_ERROR(SourceKeyForDryRun(ctx, req, "SourceKeyId"));
        KMSD_ASSIGN_OR_RETURN(auto dest, ctx.TargetKey());
        KMSD_RETURN_IF_ERROR(
            EncryptionAlgorithmOf(*dest, req, "DestinationEncryptionAlgorithm").status());
        return DryRunGate(req);
    }
    KMSD_ASSIGN_OR_RETURN(Decrypted src, DecryptBlob(ctx, req, "SourceEncryptionContext",
                                                     "SourceEncryptionAlgorithm"));
    KMSD_ASSIGN_OR_RETURN(auto dest, ctx.TargetKey());
    KMSD_ASSIGN_OR_RETURN(auto dest_alg,
                          EncryptionAlgorithmOf(*dest, req, "DestinationEncryptionAlgorithm"));
    KMSD_RETURN_IF_ERROR(CheckEncryptable(*dest, *dest_alg, src.plaintext.size(), dest_ec));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    KMSD_ASSIGN_OR_RETURN(Bytes blob, EncryptUnder(ctx, *dest, *dest_alg, src.plaintext, dest_ec));
    Json out = Json::object();
    out["CiphertextBlob"] = BlobJson(blob);
    out["DestinationEncryptionAlgorithm"] = std::string(dest_alg->name);
    if (IsSymmetric(*dest)) out["DestinationKeyMaterialId"] = Str(dest->current_material_id());
    out["KeyId"] = Str(dest->arn);
    out["SourceEncryptionAlgorithm"] = std::string(src.algorithm->name);
    out["SourceKeyId"] = Str(src.key->arn);
    if (IsSymmetric(*src.key)) out["SourceKeyMaterialId"] = Str(src.material_id);
    // Both keys were used (kms-reference §9.2).
    ctx.RecordUse(*src.key, "ReEncrypt");
    ctx.RecordUse(*dest, "ReEncrypt");
    return out;
}

Result<Json> GenerateDataKey(OpContext& ctx, const Request& req) {
    return DataKey(ctx, req, /*with_plaintext=*/true);
}

Result<Json> GenerateDataKeyWithoutPlaintext(OpContext& ctx, const Request& req) {
    return DataKey(ctx, req, /*with_plaintext=*/false);
}

Result<Json> GenerateRandom(OpContext& ctx, const Request& req) {
    if (!req.Has("NumberOfBytes"))
        return Error(ErrorCode::kValidation, "NumberOfBytes is required.");
    // From a CloudHSM key store's cluster: it must be connected.
    if (req.Has("CustomKeyStoreId")) {
        KMSD_ASSIGN_OR_RETURN(storage::StorePtr store,
                              CallerKeyStore(ctx, req.String("CustomKeyStoreId")));
        if (store->type == "EXTERNAL_KEY_STORE")
            return Error(ErrorCode::kUnsupportedOperation,
                         "GenerateRandom is not supported for an external key store (" +
                             store->store_id + ").");
        if (!store->connected())
            return Error(ErrorCode::kCustomKeyStoreInvalidState,
                         "You requested the GenerateRandom operation in an CloudHSM key store "
                         "that is not connected.");
    }
    if (req.Has("Recipient"))
        return Error(ErrorCode::kUnsupportedOperation,
                     "Recipient (Nitro Enclaves) is not supported by kmsd yet.");
    SecureBytes random = hsm::RandomBytes(static_cast<std::size_t>(*req.OptInt("NumberOfBytes")));
    Json out = Json::object();
    out["Plaintext"] = SecretJson(random);
    return out;
}

}  // namespace kmsd::api::ops
