<?php

namespace App\Jobs;

use DateTimeImmutable;
use DateTimeZone;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Support\Str;
use RuntimeException;

/**
 * A job that proves where, when and by which code it ran.
 *
 * On success it appends one JSON line to storage/app/processed.jsonl:
 * {"id", "host", "connection", "queue", "pid", "attempt", "started_at",
 *  "finished_at", "code_version", "job_uuid"}.
 */
class DemoJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    /**
     * Bumped by deploy tests to prove that workers run the new code after a
     * restart. Keep it a plain integer literal on one line.
     */
    const CODE_VERSION = 1;

    /** @var string */
    public $demoId;

    /** @var float */
    public $seconds;

    /** @var bool */
    public $fail;

    public function __construct(?string $demoId = null, float $seconds = 0, bool $fail = false)
    {
        $this->demoId = $demoId ?? (string) Str::uuid();
        $this->seconds = max(0.0, $seconds);
        $this->fail = $fail;
    }

    public static function processedPath(): string
    {
        return storage_path('app/processed.jsonl');
    }

    public function handle(): void
    {
        $startedAt = self::now();

        $this->sleepFor($this->seconds);

        if ($this->fail) {
            throw new RuntimeException("DemoJob {$this->demoId} fails on purpose (attempt {$this->attempts()}).");
        }

        $this->record([
            'id' => $this->demoId,
            'host' => gethostname(),
            'connection' => $this->job ? $this->job->getConnectionName() : null,
            'queue' => $this->job ? $this->job->getQueue() : null,
            'pid' => getmypid(),
            'attempt' => $this->attempts(),
            'started_at' => $startedAt,
            'finished_at' => self::now(),
            'code_version' => self::CODE_VERSION,
            'job_uuid' => $this->job ? $this->job->uuid() : null,
        ]);
    }

    /**
     * Sleep the full duration even when signals (SIGTERM, SIGUSR2, SIGCONT,
     * which the worker handles) interrupt sleep().
     */
    private function sleepFor(float $seconds): void
    {
        $deadline = microtime(true) + $seconds;

        while (($left = $deadline - microtime(true)) > 0) {
            usleep((int) min($left * 1000000, 200000));
        }
    }

    /**
     * Append one line durably: exclusive lock, write, flush, fsync.
     */
    private function record(array $line): void
    {
        $path = self::processedPath();
        $data = json_encode($line, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR)."\n";

        $handle = fopen($path, 'a');

        if ($handle === false) {
            throw new RuntimeException("Cannot open {$path} for appending.");
        }

        try {
            if (! flock($handle, LOCK_EX)) {
                throw new RuntimeException("Cannot lock {$path}.");
            }

            $written = 0;
            $length = strlen($data);

            while ($written < $length) {
                $result = fwrite($handle, substr($data, $written));

                if ($result === false || $result === 0) {
                    throw new RuntimeException("Cannot write to {$path}.");
                }

                $written += $result;
            }

            fflush($handle);

            if (function_exists('fsync')) {
                fsync($handle);
            }

            flock($handle, LOCK_UN);
        } finally {
            fclose($handle);
        }
    }

    private static function now(): string
    {
        return (new DateTimeImmutable('now', new DateTimeZone('UTC')))->format('Y-m-d\TH:i:s.uP');
    }
}
