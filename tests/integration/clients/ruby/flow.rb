# The client flow (tests/integration/python/test_clients.py) with the AWS SDK for Ruby (Debian's
# ruby-aws-sdk-kms, which ignores AWS_ENDPOINT_URL_KMS: the endpoint is the client's option):
#
#   ruby flow.rb ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]
#
# Prints "ok <step>" per step and exits 1 with "FAIL <step>: ..." on the first wrong result. With
# WRONG_SECRET_KEY (strict mode) it also checks that a request signed with it is refused.
#
# aws-sdk-kms 1.24 (2019) predates Sign, Verify, GetPublicKey, GenerateMac, VerifyMac and
# CreateKey's KeySpec. When the gem lacks them they are added to its API model below, from the
# current KMS model, so that those requests still go through the SDK's own parameter validation,
# JSON protocol, SigV4 signer, retries and error classes. A gem that has them uses its own.
require "aws-sdk-kms"
require "openssl"
require "securerandom"

REGION = "us-east-1"
ACCOUNT = "111122223333"
CLIENT = "ruby"

$step = "setup"

def fail!(msg)
  $stderr.puts "FAIL #{$step}: #{msg}"
  exit 1
end

def ok
  puts "ok #{$step}"
  $stdout.flush
end

def expect(what, got, want)
  fail!("#{what}: got #{got.inspect}, want #{want.inspect}") unless got == want
end

# Runs the block and checks that it raises the SDK's error class for this code (a modeled class
# of Aws::KMS::Errors, or the one the SDK makes for an unmodeled code), with HTTP status 400 and
# a request ID.
def expect_error(klass, code)
  yield
  fail!("succeeded; want #{code}")
rescue Aws::KMS::Errors::ServiceError => e
  fail!("got #{e.class} (#{e.code}: #{e.message.inspect}), want #{klass}") unless e.is_a?(klass)
  expect("code", e.code, code)
  expect("HTTP status", e.context.http_response.status_code, 400)
  fail!("#{code} without x-amzn-RequestId") if e.context.http_response.headers["x-amzn-requestid"].to_s.empty?
  e
end

def key_arn(id)
  "arn:aws:kms:#{REGION}:#{ACCOUNT}:key/#{id}"
end

module Backfill
  S = Seahorse::Model::Shapes
  API = Aws::KMS::ClientApi

  def self.struct(name, members)
    shape = S::StructureShape.new(name: name)
    members.each do |member, (type, location, required)|
      shape.add_member(member, S::ShapeRef.new(shape: type, location_name: location,
                                               required: required ? true : false))
    end
    shape.struct_class = Struct.new(*members.keys) { include Aws::Structure }
    shape
  end

  def self.apply
    added = []
    str = S::StringShape.new(name: "String")
    blob = S::BlobShape.new(name: "Blob")
    bool = S::BooleanShape.new(name: "Boolean")
    list = S::ListShape.new(name: "StringList")
    list.member = S::ShapeRef.new(shape: str)
    unless API::CreateKeyRequest.member?(:key_spec)
      API::CreateKeyRequest.add_member(:key_spec, S::ShapeRef.new(shape: str, location_name: "KeySpec"))
      added << "CreateKey KeySpec"
    end
    meta = { key_spec: "KeySpec", signing_algorithms: "SigningAlgorithms", mac_algorithms: "MacAlgorithms" }
    missing = meta.reject { |m, _| API::KeyMetadata.member?(m) }
    unless missing.empty?
      missing.each do |m, location|
        API::KeyMetadata.add_member(m, S::ShapeRef.new(shape: m == :key_spec ? str : list,
                                                       location_name: location))
      end
      API::KeyMetadata.struct_class = Struct.new(*API::KeyMetadata.member_names) { include Aws::Structure }
      added << "KeyMetadata #{missing.values.join(', ')}"
    end
    ops = {
      sign: ["Sign",
             { key_id: [str, "KeyId", true], message: [blob, "Message", true],
               message_type: [str, "MessageType"], grant_tokens: [list, "GrantTokens"],
               signing_algorithm: [str, "SigningAlgorithm", true] },
             { key_id: [str, "KeyId"], signature: [blob, "Signature"],
               signing_algorithm: [str, "SigningAlgorithm"] }],
      verify: ["Verify",
               { key_id: [str, "KeyId", true], message: [blob, "Message", true],
                 message_type: [str, "MessageType"], signature: [blob, "Signature", true],
                 signing_algorithm: [str, "SigningAlgorithm", true], grant_tokens: [list, "GrantTokens"] },
               { key_id: [str, "KeyId"], signature_valid: [bool, "SignatureValid"],
                 signing_algorithm: [str, "SigningAlgorithm"] }],
      get_public_key: ["GetPublicKey",
                       { key_id: [str, "KeyId", true], grant_tokens: [list, "GrantTokens"] },
                       { key_id: [str, "KeyId"], public_key: [blob, "PublicKey"],
                         key_spec: [str, "KeySpec"], key_usage: [str, "KeyUsage"],
                         signing_algorithms: [list, "SigningAlgorithms"] }],
      generate_mac: ["GenerateMac",
                     { message: [blob, "Message", true], key_id: [str, "KeyId", true],
                       mac_algorithm: [str, "MacAlgorithm", true], grant_tokens: [list, "GrantTokens"] },
                     { mac: [blob, "Mac"], mac_algorithm: [str, "MacAlgorithm"], key_id: [str, "KeyId"] }],
      verify_mac: ["VerifyMac",
                   { message: [blob, "Message", true], key_id: [str, "KeyId", true],
                     mac_algorithm: [str, "MacAlgorithm", true], mac: [blob, "Mac", true],
                     grant_tokens: [list, "GrantTokens"] },
                   { key_id: [str, "KeyId"], mac_valid: [bool, "MacValid"],
                     mac_algorithm: [str, "MacAlgorithm"] }],
    }
    ops.each do |method, (name, input, output)|
      next if Aws::KMS::Client.method_defined?(method)
      API::API.add_operation(method, Seahorse::Model::Operation.new.tap do |o|
        o.name = name
        o.http_method = "POST"
        o.http_request_uri = "/"
        o.input = S::ShapeRef.new(shape: struct("#{name}Request", input))
        o.output = S::ShapeRef.new(shape: struct("#{name}Response", output))
      end)
      Aws::KMS::Client.define_method(method) do |params = {}, options = {}|
        build_request(method, params).send_request(options)
      end
      added << name
    end
    added
  end
end

if ARGV.length != 3 && ARGV.length != 4
  $stderr.puts "usage: ruby flow.rb ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]"
  exit 2
end
endpoint, access, secret, wrong_secret = ARGV
puts "version aws-sdk-kms #{Aws::KMS::GEM_VERSION} aws-sdk-core #{Aws::CORE_GEM_VERSION} ruby #{RUBY_VERSION}"
added = Backfill.apply
puts "note: added to aws-sdk-kms #{Aws::KMS::GEM_VERSION}'s model: #{added.join('; ')}" unless added.empty?

def new_client(endpoint, access, secret)
  Aws::KMS::Client.new(endpoint: endpoint, region: REGION,
                       credentials: Aws::Credentials.new(access, secret))
end

# Anything the SDK raises that no step expects (a network error, a response it cannot parse)
# fails the step it happened in.
begin
  kms = new_client(endpoint, access, secret)
  suffix = SecureRandom.hex(4)
  alias_name = "alias/#{CLIENT}-#{suffix}"

  $step = "create_key"
  description = "kmsd client flow #{CLIENT}"
  md = kms.create_key(description: description,
                      tags: [{ tag_key: "client", tag_value: CLIENT },
                             { tag_key: "run", tag_value: suffix }]).key_metadata
  key1 = md.key_id
  expect("arn", md.arn, key_arn(key1))
  expect("aws_account_id", md.aws_account_id, ACCOUNT)
  expect("description", md.description, description)
  expect("key_state", md.key_state, "Enabled")
  expect("key_usage", md.key_usage, "ENCRYPT_DECRYPT")
  expect("key_spec", md.key_spec, "SYMMETRIC_DEFAULT")
  expect("enabled", md.enabled, true)
  fail!("creation_date #{md.creation_date.inspect}") unless md.creation_date.is_a?(Time)
  ok

  $step = "create_alias"
  kms.create_alias(alias_name: alias_name, target_key_id: key1)
  ok

  $step = "describe_key_by_alias"
  described = kms.describe_key(key_id: alias_name).key_metadata
  expect("key_id", described.key_id, key1)
  expect("description", described.description, description)
  ok

  $step = "list_aliases_by_key"
  aliases = kms.list_aliases(key_id: key1)
  fail!("want 1 alias, got #{aliases.aliases.inspect}") unless aliases.aliases.length == 1
  a = aliases.aliases[0]
  expect("alias_name", a.alias_name, alias_name)
  expect("alias_arn", a.alias_arn, "arn:aws:kms:#{REGION}:#{ACCOUNT}:#{alias_name}")
  expect("target_key_id", a.target_key_id, key1)
  expect("truncated", aliases.truncated, false)
  ok

  $step = "list_resource_tags"
  tags = kms.list_resource_tags(key_id: key1).tags.map { |t| [t.tag_key, t.tag_value] }.to_h
  expect("tags", tags, { "client" => CLIENT, "run" => suffix })
  ok

  $step = "generate_data_key"
  ctx = { "purpose" => "client-flow", "client" => CLIENT }
  dk = kms.generate_data_key(key_id: alias_name, key_spec: "AES_256", encryption_context: ctx)
  expect("key_id", dk.key_id, key_arn(key1))
  expect("plaintext bytes", dk.plaintext.bytesize, 32)
  fail!("empty ciphertext_blob") if dk.ciphertext_blob.empty?
  ok

  $step = "decrypt"
  dec = kms.decrypt(ciphertext_blob: dk.ciphertext_blob, encryption_context: ctx)
  expect("plaintext", dec.plaintext, dk.plaintext)
  expect("key_id", dec.key_id, key_arn(key1))
  ok

  $step = "decrypt_wrong_context"
  expect_error(Aws::KMS::Errors::InvalidCiphertextException, "InvalidCiphertextException") do
    kms.decrypt(ciphertext_blob: dk.ciphertext_blob, encryption_context: { "purpose" => "other" })
  end
  ok

  $step = "re_encrypt"
  key2 = kms.create_key(description: "second key #{CLIENT}").key_metadata.key_id
  ctx2 = { "purpose" => "re-encrypted" }
  re = kms.re_encrypt(ciphertext_blob: dk.ciphertext_blob, source_encryption_context: ctx,
                      destination_key_id: key2, destination_encryption_context: ctx2)
  expect("source_key_id", re.source_key_id, key_arn(key1))
  expect("key_id", re.key_id, key_arn(key2))
  fail!("ciphertext unchanged") if re.ciphertext_blob == dk.ciphertext_blob
  ok

  $step = "decrypt_re_encrypted"
  dec2 = kms.decrypt(ciphertext_blob: re.ciphertext_blob, encryption_context: ctx2)
  expect("plaintext", dec2.plaintext, dk.plaintext)
  expect("key_id", dec2.key_id, key_arn(key2))
  ok

  $step = "list_keys_paginated"
  pages = 0
  seen = {}
  kms.list_keys(limit: 1).each_page do |page|
    pages += 1
    fail!("page of #{page.keys.length} keys with limit 1") if page.keys.length > 1
    page.keys.each do |k|
      fail!("key #{k.key_id} listed twice") if seen[k.key_id]
      seen[k.key_id] = true
      expect("key_arn", k.key_arn, key_arn(k.key_id))
    end
  end
  unless seen[key1] && seen[key2] && pages >= 2
    fail!("#{pages} pages, keys #{seen.keys}: want both #{key1} and #{key2} over several pages")
  end
  ok

  $step = "schedule_key_deletion"
  sched = kms.schedule_key_deletion(key_id: key2, pending_window_in_days: 7)
  expect("key_id", sched.key_id, key_arn(key2))
  fail!("deletion_date #{sched.deletion_date.inspect}") unless sched.deletion_date.is_a?(Time)
  # aws-sdk-kms 1.24's model has no KeyState/PendingWindowInDays in the response: read them when
  # the gem knows them.
  expect("key_state", sched.key_state, "PendingDeletion") if sched.respond_to?(:key_state)
  ok

  $step = "encrypt_pending_deletion"
  e = expect_error(Aws::KMS::Errors::KMSInvalidStateException, "KMSInvalidStateException") do
    kms.encrypt(key_id: key2, plaintext: "x")
  end
  expect("message", e.message, "#{key_arn(key2)} is pending deletion.")
  ok

  $step = "missing_key"
  missing = "11111111-2222-3333-4444-#{SecureRandom.hex(6)}"
  e = expect_error(Aws::KMS::Errors::NotFoundException, "NotFoundException") do
    kms.describe_key(key_id: missing)
  end
  expect("message", e.message, "Key '#{key_arn(missing)}' does not exist")
  ok

  $step = "sign_verify"
  sk = kms.create_key(key_spec: "ECC_NIST_P256", key_usage: "SIGN_VERIFY").key_metadata
  expect("key_spec", sk.key_spec, "ECC_NIST_P256")
  expect("signing_algorithms", sk.signing_algorithms, ["ECDSA_SHA_256"])
  message = "message signed by #{CLIENT}"
  signed = kms.sign(key_id: sk.key_id, message: message, message_type: "RAW",
                    signing_algorithm: "ECDSA_SHA_256")
  expect("key_id", signed.key_id, key_arn(sk.key_id))
  expect("signing_algorithm", signed.signing_algorithm, "ECDSA_SHA_256")
  verified = kms.verify(key_id: sk.key_id, message: message, message_type: "RAW",
                        signature: signed.signature, signing_algorithm: "ECDSA_SHA_256")
  expect("signature_valid", verified.signature_valid, true)
  expect_error(Aws::KMS::Errors::KMSInvalidSignatureException, "KMSInvalidSignatureException") do
    kms.verify(key_id: sk.key_id, message: "another message", message_type: "RAW",
               signature: signed.signature, signing_algorithm: "ECDSA_SHA_256")
  end
  # The signature checks out with the public key outside KMS too.
  pub = OpenSSL::PKey.read(kms.get_public_key(key_id: sk.key_id).public_key)
  fail!("public key #{pub.class}") unless pub.is_a?(OpenSSL::PKey::EC) && pub.group.curve_name == "prime256v1"
  fail!("OpenSSL does not verify the signature") unless pub.verify("SHA256", signed.signature, message)
  ok

  $step = "generate_verify_mac"
  hk = kms.create_key(key_spec: "HMAC_256", key_usage: "GENERATE_VERIFY_MAC").key_metadata
  expect("mac_algorithms", hk.mac_algorithms, ["HMAC_SHA_256"])
  mac = kms.generate_mac(key_id: hk.key_id, message: message, mac_algorithm: "HMAC_SHA_256")
  expect("mac bytes", mac.mac.bytesize, 32)
  expect("key_id", mac.key_id, key_arn(hk.key_id))
  vm = kms.verify_mac(key_id: hk.key_id, message: message, mac: mac.mac, mac_algorithm: "HMAC_SHA_256")
  expect("mac_valid", vm.mac_valid, true)
  expect_error(Aws::KMS::Errors::KMSInvalidMacException, "KMSInvalidMacException") do
    kms.verify_mac(key_id: hk.key_id, message: "another message", mac: mac.mac, mac_algorithm: "HMAC_SHA_256")
  end
  ok

  if wrong_secret
    $step = "wrong_secret"
    e = expect_error(Aws::KMS::Errors::InvalidSignatureException, "InvalidSignatureException") do
      new_client(endpoint, access, wrong_secret).list_keys
    end
    unless e.message.include?("The request signature we calculated does not match")
      fail!("message #{e.message.inspect}")
    end
    ok
  end
rescue StandardError => e
  fail!("#{e.class}: #{e.message}\n  #{e.backtrace.first(5).join("\n  ")}")
end
puts "PASS #{CLIENT}"
