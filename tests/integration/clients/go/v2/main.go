// The client flow (tests/integration/python/test_clients.py) with the AWS SDK for Go v2, built in
// GOPATH mode against Debian's golang-github-aws-aws-sdk-go-v2-dev (which predates BaseEndpoint
// and AWS_ENDPOINT_URL_KMS: the endpoint is set with EndpointResolverFromURL):
//
//	flow ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]
//
// Prints "ok <step>" per step and exits 1 with "FAIL <step>: ..." on the first wrong result. With
// WRONG_SECRET_KEY (strict mode) it also checks that a request signed with it is refused.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

const (
	region  = "us-east-1"
	account = "111122223333"
	client  = "go-v2"
)

var (
	step = "setup"
	bg   = context.Background()
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", step, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func ok() { fmt.Printf("ok %s\n", step) }

func check(err error) {
	if err != nil {
		fail("unexpected error: %v", err)
	}
}

func expect(what string, got, want interface{}) {
	if !reflect.DeepEqual(got, want) {
		fail("%s: got %#v, want %#v", what, got, want)
	}
}

// expectTyped checks that err unwraps (errors.As) into target, a pointer to the modeled exception
// type's pointer, that the API error code is code, the HTTP status 400 and that it has a request ID.
func expectTyped(err error, target interface{}, code string) smithy.APIError {
	if err == nil {
		fail("succeeded; want %s", code)
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		fail("error %T %v is not a smithy.APIError", err, err)
	}
	if api.ErrorCode() != code {
		fail("got %s (%q), want %s", api.ErrorCode(), api.ErrorMessage(), code)
	}
	if target != nil && !errors.As(err, target) {
		fail("error %v does not unwrap to %T", err, target)
	}
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != 400 {
		fail("error %v: want an HTTP 400 response error", err)
	}
	if resp.ServiceRequestID() == "" {
		fail("%s without a request ID (x-amzn-RequestId)", code)
	}
	return api
}

func keyArn(id string) string { return "arn:aws:kms:" + region + ":" + account + ":key/" + id }

func newClient(endpoint, access, secret string) *kms.Client {
	cfg, err := config.LoadDefaultConfig(bg, config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(access, secret, "")))
	check(err)
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		o.EndpointResolver = kms.EndpointResolverFromURL(endpoint)
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: flow ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]")
		os.Exit(2)
	}
	endpoint, access, secret := os.Args[1], os.Args[2], os.Args[3]
	fmt.Printf("version aws-sdk-go-v2 %s\n", aws.SDKVersion)
	c := newClient(endpoint, access, secret)
	suffix := randomHex(4)
	alias := "alias/" + client + "-" + suffix

	step = "create_key"
	description := "kmsd client flow " + client
	created, err := c.CreateKey(bg, &kms.CreateKeyInput{
		Description: aws.String(description),
		Tags: []types.Tag{
			{TagKey: aws.String("client"), TagValue: aws.String(client)},
			{TagKey: aws.String("run"), TagValue: aws.String(suffix)},
		},
	})
	check(err)
	md := created.KeyMetadata
	key1 := aws.ToString(md.KeyId)
	expect("Arn", aws.ToString(md.Arn), keyArn(key1))
	expect("AWSAccountId", aws.ToString(md.AWSAccountId), account)
	expect("Description", aws.ToString(md.Description), description)
	expect("KeyState", md.KeyState, types.KeyStateEnabled)
	expect("KeyUsage", md.KeyUsage, types.KeyUsageTypeEncryptDecrypt)
	expect("KeySpec", md.KeySpec, types.KeySpecSymmetricDefault)
	expect("Enabled", md.Enabled, true)
	if md.CreationDate == nil || md.CreationDate.IsZero() {
		fail("no CreationDate")
	}
	ok()

	step = "create_alias"
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(key1)})
	check(err)
	ok()

	step = "describe_key_by_alias"
	described, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	check(err)
	expect("KeyId", aws.ToString(described.KeyMetadata.KeyId), key1)
	expect("Description", aws.ToString(described.KeyMetadata.Description), description)
	ok()

	step = "list_aliases_by_key"
	aliases, err := c.ListAliases(bg, &kms.ListAliasesInput{KeyId: aws.String(key1)})
	check(err)
	if len(aliases.Aliases) != 1 {
		fail("want 1 alias, got %v", aliases.Aliases)
	}
	a := aliases.Aliases[0]
	expect("AliasName", aws.ToString(a.AliasName), alias)
	expect("AliasArn", aws.ToString(a.AliasArn), "arn:aws:kms:"+region+":"+account+":"+alias)
	expect("TargetKeyId", aws.ToString(a.TargetKeyId), key1)
	expect("Truncated", aliases.Truncated, false)
	ok()

	step = "list_resource_tags"
	tags, err := c.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(key1)})
	check(err)
	gotTags := map[string]string{}
	for _, t := range tags.Tags {
		gotTags[aws.ToString(t.TagKey)] = aws.ToString(t.TagValue)
	}
	expect("Tags", gotTags, map[string]string{"client": client, "run": suffix})
	ok()

	step = "generate_data_key"
	ctx := map[string]string{"purpose": "client-flow", "client": client}
	dk, err := c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{
		KeyId: aws.String(alias), KeySpec: types.DataKeySpecAes256, EncryptionContext: ctx,
	})
	check(err)
	expect("KeyId", aws.ToString(dk.KeyId), keyArn(key1))
	expect("len(Plaintext)", len(dk.Plaintext), 32)
	if len(dk.CiphertextBlob) == 0 {
		fail("empty CiphertextBlob")
	}
	ok()

	step = "decrypt"
	dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ctx})
	check(err)
	expect("Plaintext", dec.Plaintext, dk.Plaintext)
	expect("KeyId", aws.ToString(dec.KeyId), keyArn(key1))
	expect("EncryptionAlgorithm", dec.EncryptionAlgorithm, types.EncryptionAlgorithmSpecSymmetricDefault)
	ok()

	step = "decrypt_wrong_context"
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob,
		EncryptionContext: map[string]string{"purpose": "other"}})
	var badCiphertext *types.InvalidCiphertextException
	expectTyped(err, &badCiphertext, "InvalidCiphertextException")
	ok()

	step = "re_encrypt"
	created2, err := c.CreateKey(bg, &kms.CreateKeyInput{Description: aws.String("second key " + client)})
	check(err)
	key2 := aws.ToString(created2.KeyMetadata.KeyId)
	ctx2 := map[string]string{"purpose": "re-encrypted"}
	re, err := c.ReEncrypt(bg, &kms.ReEncryptInput{
		CiphertextBlob: dk.CiphertextBlob, SourceEncryptionContext: ctx,
		DestinationKeyId: aws.String(key2), DestinationEncryptionContext: ctx2,
	})
	check(err)
	expect("SourceKeyId", aws.ToString(re.SourceKeyId), keyArn(key1))
	expect("KeyId", aws.ToString(re.KeyId), keyArn(key2))
	if bytes.Equal(re.CiphertextBlob, dk.CiphertextBlob) {
		fail("ciphertext unchanged")
	}
	ok()

	step = "decrypt_re_encrypted"
	dec2, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: ctx2})
	check(err)
	expect("Plaintext", dec2.Plaintext, dk.Plaintext)
	expect("KeyId", aws.ToString(dec2.KeyId), keyArn(key2))
	ok()

	step = "list_keys_paginated"
	pages := 0
	seen := map[string]bool{}
	paginator := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(1)})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(bg)
		check(err)
		pages++
		if len(page.Keys) > 1 {
			fail("page of %d keys with Limit 1", len(page.Keys))
		}
		for _, k := range page.Keys {
			id := aws.ToString(k.KeyId)
			if seen[id] {
				fail("key %s listed twice", id)
			}
			seen[id] = true
			expect("KeyArn", aws.ToString(k.KeyArn), keyArn(id))
		}
	}
	if !seen[key1] || !seen[key2] || pages < 2 {
		fail("%d pages, keys %v: want both %s and %s over several pages", pages, seen, key1, key2)
	}
	ok()

	step = "schedule_key_deletion"
	sched, err := c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(key2), PendingWindowInDays: aws.Int32(7)})
	check(err)
	expect("KeyId", aws.ToString(sched.KeyId), keyArn(key2))
	expect("KeyState", sched.KeyState, types.KeyStatePendingDeletion)
	expect("PendingWindowInDays", aws.ToInt32(sched.PendingWindowInDays), int32(7))
	if sched.DeletionDate == nil || sched.DeletionDate.IsZero() {
		fail("no DeletionDate")
	}
	ok()

	step = "encrypt_pending_deletion"
	_, err = c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(key2), Plaintext: []byte("x")})
	var invalidState *types.KMSInvalidStateException
	api := expectTyped(err, &invalidState, "KMSInvalidStateException")
	expect("message", api.ErrorMessage(), keyArn(key2)+" is pending deletion.")
	ok()

	step = "missing_key"
	missing := "11111111-2222-3333-4444-" + randomHex(6)
	_, err = c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(missing)})
	var notFound *types.NotFoundException
	api = expectTyped(err, &notFound, "NotFoundException")
	expect("message", api.ErrorMessage(), "Key '"+keyArn(missing)+"' does not exist")
	ok()

	step = "sign_verify"
	signKey, err := c.CreateKey(bg, &kms.CreateKeyInput{
		KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	check(err)
	signID := aws.ToString(signKey.KeyMetadata.KeyId)
	expect("KeySpec", signKey.KeyMetadata.KeySpec, types.KeySpecEccNistP256)
	expect("SigningAlgorithms", signKey.KeyMetadata.SigningAlgorithms, []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha256})
	message := []byte("message signed by " + client)
	signed, err := c.Sign(bg, &kms.SignInput{KeyId: aws.String(signID), Message: message,
		MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	check(err)
	expect("KeyId", aws.ToString(signed.KeyId), keyArn(signID))
	expect("SigningAlgorithm", signed.SigningAlgorithm, types.SigningAlgorithmSpecEcdsaSha256)
	verified, err := c.Verify(bg, &kms.VerifyInput{KeyId: aws.String(signID), Message: message, Signature: signed.Signature,
		MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	check(err)
	expect("SignatureValid", verified.SignatureValid, true)
	_, err = c.Verify(bg, &kms.VerifyInput{KeyId: aws.String(signID), Message: []byte("another message"), Signature: signed.Signature,
		MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	var badSignature *types.KMSInvalidSignatureException
	expectTyped(err, &badSignature, "KMSInvalidSignatureException")
	// The signature checks out with the public key outside KMS too.
	pub, err := c.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: aws.String(signID)})
	check(err)
	parsed, err := x509.ParsePKIXPublicKey(pub.PublicKey)
	check(err)
	ecPub, isEC := parsed.(*ecdsa.PublicKey)
	if !isEC || ecPub.Curve.Params().Name != "P-256" {
		fail("public key is %T, want a P-256 ECDSA key", parsed)
	}
	digest := sha256.Sum256(message)
	if !ecdsa.VerifyASN1(ecPub, digest[:], signed.Signature) {
		fail("crypto/ecdsa does not verify the signature")
	}
	ok()

	step = "generate_verify_mac"
	macKey, err := c.CreateKey(bg, &kms.CreateKeyInput{
		KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	check(err)
	macID := aws.ToString(macKey.KeyMetadata.KeyId)
	expect("MacAlgorithms", macKey.KeyMetadata.MacAlgorithms, []types.MacAlgorithmSpec{types.MacAlgorithmSpecHmacSha256})
	mac, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: aws.String(macID), Message: message,
		MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	check(err)
	expect("len(Mac)", len(mac.Mac), 32)
	expect("KeyId", aws.ToString(mac.KeyId), keyArn(macID))
	vm, err := c.VerifyMac(bg, &kms.VerifyMacInput{KeyId: aws.String(macID), Message: message, Mac: mac.Mac,
		MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	check(err)
	expect("MacValid", vm.MacValid, true)
	_, err = c.VerifyMac(bg, &kms.VerifyMacInput{KeyId: aws.String(macID), Message: []byte("another message"), Mac: mac.Mac,
		MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	var badMac *types.KMSInvalidMacException
	expectTyped(err, &badMac, "KMSInvalidMacException")
	ok()

	if len(os.Args) == 5 {
		step = "wrong_secret"
		_, err = newClient(endpoint, access, os.Args[4]).ListKeys(bg, &kms.ListKeysInput{})
		api = expectTyped(err, nil, "InvalidSignatureException")
		if !strings.Contains(api.ErrorMessage(), "The request signature we calculated does not match") {
			fail("message %q", api.ErrorMessage())
		}
		ok()
	}
	fmt.Println("PASS " + client)
}
