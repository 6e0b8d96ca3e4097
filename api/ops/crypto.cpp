// Symmetric cryptography: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext, GenerateRandom. The hot path: Catalog reads and the HSM's
// cache only, no SQLite, no exclusive lock.
#include "hsm/crypto.h"

#include "api/ops/common.h"

namespace kmsd::api::ops {
namespace {

hsm::KeyRef RefOf(const storage::KeyRecord& key, const std::string& material_id) {
    return {key.arn, material_id, key.key_spec};
}

Json BlobJson(ByteView bytes) { return Json(ToSecure(Base64Encode(bytes))); }

// Base64 of secret bytes straight into a wiped string (plaintext, data keys).
Json SecretJson(const SecureBytes& bytes) {
    std::string encoded = Base64Encode(bytes);
    Json out(ToSecure(encoded));
    SecureWipe(encoded.data(), encoded.size());
    return out;
}

// The plaintext of Decrypt's or ReEncrypt's ciphertext, and the key (route.key, which the
// ciphertext names) and material that made it.
struct Decrypted {
    storage::KeyPtr key;
    std::string material_id;
    SecureBytes plaintext;
};

Result<Decrypted> DecryptBlob(OpContext& ctx, const Request& req, const char* context_member,
                              const char* algorithm_member) {
    const SecureBytes blob = req.Blob("CiphertextBlob");
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext ec, EncryptionContextOf(req, context_member));
    KMSD_ASSIGN_OR_RETURN(CiphertextKey source, ctx.KeyOfCiphertext(blob));
    KMSD_RETURN_IF_ERROR(CheckSymmetricAlgorithm(*source.key, req, algorithm_member));
    KMSD_ASSIGN_OR_RETURN(SecureBytes plain, ctx.services.hsm.Decrypt(
                                                 RefOf(*source.key, source.material_id), blob, ec));
    return Decrypted{source.key, source.material_id, std::move(plain)};
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
                          ctx.services.hsm.GenerateDataKey(RefOf(*key, material), bytes, ec));
    Json out = Json::object();
    out["CiphertextBlob"] = BlobJson(dk.ciphertext_blob);
    out["KeyId"] = Str(key->arn);
    out["KeyMaterialId"] = Str(material);
    if (with_plaintext) out["Plaintext"] = SecretJson(dk.plaintext);
    ctx.RecordUse(*key, op);
    return out;
}

}  // namespace

Result<Json> Encrypt(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext ec, EncryptionContextOf(req, "EncryptionContext"));
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(CheckSymmetricAlgorithm(*key, req, "EncryptionAlgorithm"));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    const SecureBytes plaintext = req.Blob("Plaintext");
    KMSD_ASSIGN_OR_RETURN(Bytes blob, ctx.services.hsm.Encrypt(
                                          RefOf(*key, key->current_material_id()), plaintext, ec));
    Json out = Json::object();
    out["CiphertextBlob"] = BlobJson(blob);
    out["EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT";
    out["KeyId"] = Str(key->arn);
    ctx.RecordUse(*key, "Encrypt");
    return out;
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
    Json out = Json::object();
    out["EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT";
    out["KeyId"] = Str(d.key->arn);
    out["KeyMaterialId"] = Str(d.material_id);
    out["Plaintext"] = SecretJson(d.plaintext);
    ctx.RecordUse(*d.key, "Decrypt");
    return out;
}

Result<Json> ReEncrypt(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(hsm::EncryptionContext dest_ec,
                          EncryptionContextOf(req, "DestinationEncryptionContext"));
    if (IgnoresCiphertext(req)) {
        KMSD_RETURN_IF_ERROR(SourceKeyForDryRun(ctx, req, "SourceKeyId"));
        KMSD_ASSIGN_OR_RETURN(auto dest, ctx.TargetKey());
        KMSD_RETURN_IF_ERROR(
            CheckSymmetricAlgorithm(*dest, req, "DestinationEncryptionAlgorithm"));
        return DryRunGate(req);
    }
    KMSD_ASSIGN_OR_RETURN(Decrypted src, DecryptBlob(ctx, req, "SourceEncryptionContext",
                                                     "SourceEncryptionAlgorithm"));
    KMSD_ASSIGN_OR_RETURN(auto dest, ctx.TargetKey());
    KMSD_RETURN_IF_ERROR(CheckSymmetricAlgorithm(*dest, req, "DestinationEncryptionAlgorithm"));
    KMSD_RETURN_IF_ERROR(DryRunGate(req));
    const std::string& dest_material = dest->current_material_id();
    KMSD_ASSIGN_OR_RETURN(
        Bytes blob, ctx.services.hsm.Encrypt(RefOf(*dest, dest_material), src.plaintext, dest_ec));
    Json out = Json::object();
    out["CiphertextBlob"] = BlobJson(blob);
    out["DestinationEncryptionAlgorithm"] = "SYMMETRIC_DEFAULT";
    out["DestinationKeyMaterialId"] = Str(dest_material);
    out["KeyId"] = Str(dest->arn);
    out["SourceEncryptionAlgorithm"] = "SYMMETRIC_DEFAULT";
    out["SourceKeyId"] = Str(src.key->arn);
    out["SourceKeyMaterialId"] = Str(src.material_id);
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

Result<Json> GenerateRandom(OpContext& /*ctx*/, const Request& req) {
    if (!req.Has("NumberOfBytes"))
        return Error(ErrorCode::kValidation, "NumberOfBytes is required.");
    if (req.Has("CustomKeyStoreId"))
        return Error(ErrorCode::kCustomKeyStoreNotFound,
                     "Custom key store " + req.String("CustomKeyStoreId") + " does not exist.");
    if (req.Has("Recipient"))
        return Error(ErrorCode::kUnsupportedOperation,
                     "Recipient (Nitro Enclaves) is not supported by kmsd yet.");
    SecureBytes random = hsm::RandomBytes(static_cast<std::size_t>(*req.OptInt("NumberOfBytes")));
    Json out = Json::object();
    out["Plaintext"] = SecretJson(random);
    return out;
}

}  // namespace kmsd::api::ops
