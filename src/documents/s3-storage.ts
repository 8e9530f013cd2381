import { createHash, randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { ListMultipartUploadsCommandOutput } from '@aws-sdk/client-s3'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3'
import type { Config } from '../config/schema.ts'
import {
  assertStorageKey,
  isStorageKey,
  StorageNotFoundError,
  type DocumentStorage,
  type StoredEntry,
  type StoredObject,
} from './storage.ts'

export type S3StorageConfig = Config['documents']['s3']

/** Where uploads stream to before their digest is known. */
const INCOMING = 'incoming/'

/**
 * Document bytes in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, a cloud's S3
 * API), for regencies past one machine with many documents: every instance shares the
 * bucket, and the database stays small.
 *
 * A put cannot name its object before the last byte (keys are SHA-256 digests), so it
 * streams to `<prefix>incoming/<random>` first: a source shorter than one part is one
 * PutObject; a longer one is a multipart upload of `partSizeBytes` parts sent one after
 * the other as the source delivers them (one part in memory, the source paused while it
 * is sent). Then a server-side copy puts the bytes under `<prefix><sha256>` and the
 * incoming object is deleted; when the key already exists (same bytes) the copy is
 * skipped and the stored object is marked fresh. A failed source aborts the multipart
 * upload and deletes the incoming object. Every object is written with the configured
 * server-side encryption (SSE-S3 `AES256` or SSE-KMS with a key id).
 */
export function createS3Storage(config: S3StorageConfig, options: { client?: S3Client } = {}): DocumentStorage {
  if (config.bucket === undefined) throw new Error('documents.s3.bucket is required for the S3 document storage')
  const bucket = config.bucket
  const prefix = config.prefix
  const client =
    options.client ??
    new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      ...(config.accessKeyId !== undefined && config.secretAccessKey !== undefined
        ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
        : {}),
    })
  const sse: { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } =
    config.serverSideEncryption === 'none'
      ? {}
      : {
          ServerSideEncryption: config.serverSideEncryption,
          ...(config.serverSideEncryption === 'aws:kms' && config.kmsKeyId !== undefined
            ? { SSEKMSKeyId: config.kmsKeyId }
            : {}),
        }
  const objectKey = (key: string) => `${prefix}${key}`

  async function exists(key: string): Promise<boolean> {
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }))
      return true
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
  }

  /** Streams `source` to `temp`; returns the digest and size. */
  async function upload(source: Readable, temp: string): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256')
    let size = 0
    let pending: Buffer[] = []
    let pendingBytes = 0
    let uploadId: string | undefined
    const parts: CompletedPart[] = []
    const sendPart = async (body: Buffer) => {
      if (uploadId === undefined) {
        const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: temp, ...sse }))
        if (created.UploadId === undefined) throw new Error('the object store started no multipart upload')
        uploadId = created.UploadId
      }
      const partNumber = parts.length + 1
      const res = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: temp,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      )
      parts.push({ PartNumber: partNumber, ETag: res.ETag })
    }
    try {
      for await (const chunk of source) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array)
        hash.update(b)
        size += b.length
        pending.push(b)
        pendingBytes += b.length
        while (pendingBytes >= config.partSizeBytes) {
          const all = Buffer.concat(pending)
          pending = all.length > config.partSizeBytes ? [all.subarray(config.partSizeBytes)] : []
          pendingBytes = all.length - config.partSizeBytes
          await sendPart(all.subarray(0, config.partSizeBytes))
        }
      }
      if (source.destroyed && !source.readableEnded) throw new Error('the upload was aborted before it ended')
      const rest = Buffer.concat(pending)
      if (uploadId === undefined) {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: temp, Body: rest, ContentLength: rest.length, ...sse }),
        )
      } else {
        if (rest.length > 0) await sendPart(rest)
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: temp,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        )
      }
      return { sha256: hash.digest('hex'), size }
    } catch (err) {
      if (uploadId !== undefined) {
        await client
          .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: temp, UploadId: uploadId }))
          .catch(() => {})
      }
      throw err
    }
  }

  return {
    async put(source: Readable): Promise<StoredObject> {
      const temp = `${prefix}${INCOMING}${randomBytes(12).toString('hex')}`
      try {
        const { sha256: key, size } = await upload(source, temp)
        // Same bytes already stored: keep them. A copy onto itself renews LastModified, so
        // an orphan sweep spares them while this upload commits its row.
        const copySource = (await exists(key)) ? objectKey(key) : temp
        await client.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: objectKey(key),
            CopySource: `${bucket}/${encodeURI(copySource)}`,
            MetadataDirective: 'REPLACE',
            Metadata: { sha256: key },
            ...sse,
          }),
        )
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: temp }))
        return { key, sha256: key, size }
      } catch (err) {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: temp })).catch(() => {})
        throw err
      }
    },

    async get(key: string): Promise<Readable> {
      assertStorageKey(key)
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }))
        // In Node the body is an http.IncomingMessage: a Readable, streamed as it arrives.
        return res.Body as Readable
      } catch (err) {
        if (isNotFound(err)) throw new StorageNotFoundError()
        throw err
      }
    },

    async delete(key: string): Promise<void> {
      assertStorageKey(key)
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) }))
    },

    async exists(key: string): Promise<boolean> {
      assertStorageKey(key)
      return exists(key)
    },

    async *list(): AsyncIterable<StoredEntry> {
      for await (const o of listObjects(client, bucket, prefix)) {
        const key = o.key.slice(prefix.length)
        if (isStorageKey(key)) yield { key, modifiedAt: o.modifiedAt }
      }
    },

    async sweepIncomplete(olderThan: Date): Promise<number> {
      let removed = 0
      for await (const o of listObjects(client, bucket, `${prefix}${INCOMING}`)) {
        if (o.modifiedAt < olderThan) {
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.key }))
          removed++
        }
      }
      // Multipart uploads a crashed process left. Some S3-compatible servers do not list
      // them; a bucket lifecycle rule (AbortIncompleteMultipartUpload) covers those
      // (docs/operations.md).
      let keyMarker: string | undefined
      let uploadIdMarker: string | undefined
      for (;;) {
        let page: ListMultipartUploadsCommandOutput
        try {
          page = await client.send(
            new ListMultipartUploadsCommand({
              Bucket: bucket,
              Prefix: `${prefix}${INCOMING}`,
              KeyMarker: keyMarker,
              UploadIdMarker: uploadIdMarker,
            }),
          )
        } catch (err) {
          if (err instanceof S3ServiceException && err.name === 'NotImplemented') break
          throw err
        }
        for (const u of page.Uploads ?? []) {
          if (u.Key !== undefined && u.UploadId !== undefined && u.Initiated !== undefined && u.Initiated < olderThan) {
            await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }))
            removed++
          }
        }
        if (page.IsTruncated !== true) break
        keyMarker = page.NextKeyMarker
        uploadIdMarker = page.NextUploadIdMarker
      }
      return removed
    },
  }
}

async function* listObjects(
  client: S3Client,
  bucket: string,
  prefix: string,
): AsyncGenerator<{ key: string; modifiedAt: Date }> {
  let token: string | undefined
  for (;;) {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    )
    for (const o of page.Contents ?? []) {
      if (o.Key !== undefined) yield { key: o.Key, modifiedAt: o.LastModified ?? new Date(0) }
    }
    if (page.IsTruncated !== true || page.NextContinuationToken === undefined) return
    token = page.NextContinuationToken
  }
}

function isNotFound(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false
  return err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404
}
