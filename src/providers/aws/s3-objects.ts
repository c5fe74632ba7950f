import {createReadStream, createWriteStream} from 'node:fs';
import {stat} from 'node:fs/promises';
import {Transform, type Readable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {DeleteObjectCommand, GetObjectCommand, type S3Client} from '@aws-sdk/client-s3';
import {Upload} from '@aws-sdk/lib-storage';
import {InterruptedError} from '../../core/errors.js';
import type {Ui} from '../../core/ui.js';
import {awsCall, mapAwsError} from './errors.js';

// The S3 side of `box image push|pull`: the disk image goes up to, or comes down from, a bucket.

/** Uploads a file with lib-storage (multipart, parallel parts, retried), with byte progress. */
export async function uploadToS3(s3: S3Client, file: string, bucket: string, key: string, ui: Ui, signal: AbortSignal): Promise<void> {
  const {size} = await stat(file);
  const upload = new Upload({client: s3, params: {Bucket: bucket, Key: key, Body: createReadStream(file)}, queueSize: 4, partSize: 16 * 1024 * 1024, leavePartsOnError: false});
  const progress = ui.progress(`upload s3://${bucket}/${key}`);
  upload.on('httpUploadProgress', (p) => progress.update({transferred: p.loaded ?? 0, total: size}));
  const onAbort = () => void upload.abort().catch(() => undefined);
  signal.addEventListener('abort', onAbort, {once: true});
  try {
    await upload.done();
  } catch (error) {
    if (signal.aborted) throw new InterruptedError();
    throw mapAwsError(error, {action: 'S3 upload'});
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  progress.update({transferred: size, total: size});
  progress.done();
}

/** Downloads s3://bucket/key to a file, with byte progress. */
export async function downloadFromS3(s3: S3Client, bucket: string, key: string, file: string, ui: Ui, signal: AbortSignal): Promise<void> {
  const object = await awsCall({action: 'S3 GetObject'}, () => s3.send(new GetObjectCommand({Bucket: bucket, Key: key}), {abortSignal: signal}));
  const total = object.ContentLength;
  const progress = ui.progress('download');
  let transferred = 0;
  const counter = new Transform({transform(chunk: Buffer, _e, cb) { transferred += chunk.length; progress.update({transferred, total}); cb(null, chunk); }});
  await pipeline(object.Body as Readable, counter, createWriteStream(file), {signal});
  progress.done();
}

/** DeleteObject; errors are the SDK's own (a pull tolerates NoSuchKey, for one). */
export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({Bucket: bucket, Key: key}));
}
