<?php

namespace App\Horizon;

use Illuminate\Contracts\Redis\Factory as RedisFactory;

/**
 * Where masters and supervisors register themselves, with Horizon's key
 * layout on the "horizon" Redis connection (prefix = config horizon.prefix):
 *
 *   masters                 zset  name => last heartbeat (unix time)
 *   master:<name>           hash  name, environment, pid, status, supervisors (json); expires after 15 s
 *   supervisors             zset  name => last heartbeat
 *   supervisor:<name>       hash  name, master, pid, status, processes (json), options (json),
 *                                 worker_pids (json, stand-in only); expires after 30 s
 *
 * A master counts as alive while its heartbeat is younger than 14 s and its
 * hash exists, exactly like Horizon.
 */
class Repository
{
    public const MASTER_TTL = 15;

    public const MASTER_FRESH = 14;

    public const SUPERVISOR_TTL = 30;

    public const SUPERVISOR_FRESH = 29;

    /** @var RedisFactory */
    private $redis;

    public function __construct(RedisFactory $redis)
    {
        $this->redis = $redis;
    }

    /**
     * @return \Illuminate\Redis\Connections\Connection
     */
    public function connection()
    {
        return $this->redis->connection('horizon');
    }

    /**
     * Drop the connection so the next call reconnects (after Redis errors).
     */
    public function reconnect(): void
    {
        $this->redis->purge('horizon');
    }

    /**
     * @return string[]
     */
    public function masterNames(): array
    {
        return $this->connection()->zrevrangebyscore('masters', '+inf', (string) (time() - self::MASTER_FRESH)) ?: [];
    }

    /**
     * @return object[] each with name, environment, pid, status, supervisors
     */
    public function masters(): array
    {
        return $this->getMasters($this->masterNames());
    }

    /**
     * @param  string[]  $names
     * @return object[]
     */
    public function getMasters(array $names): array
    {
        if ($names === []) {
            return [];
        }

        $records = $this->connection()->pipeline(function ($pipe) use ($names) {
            foreach ($names as $name) {
                $pipe->hMGet('master:'.$name, ['name', 'pid', 'status', 'supervisors', 'environment']);
            }
        });

        $masters = [];

        foreach ($records as $record) {
            if (! is_array($record) || empty($record['name'])) {
                continue;
            }

            $masters[] = (object) [
                'name' => $record['name'],
                'environment' => $record['environment'],
                'pid' => (int) $record['pid'],
                'status' => $record['status'],
                'supervisors' => json_decode((string) $record['supervisors'], true) ?: [],
            ];
        }

        return $masters;
    }

    public function updateMaster(string $name, string $environment, int $pid, string $status, array $supervisors): void
    {
        $this->connection()->pipeline(function ($pipe) use ($name, $environment, $pid, $status, $supervisors) {
            $pipe->hMSet('master:'.$name, [
                'name' => $name,
                'environment' => $environment,
                'pid' => $pid,
                'status' => $status,
                'supervisors' => json_encode(array_values($supervisors)),
            ]);
            $pipe->zAdd('masters', time(), $name);
            $pipe->expire('master:'.$name, self::MASTER_TTL);
        });
    }

    public function forgetMaster(string $name): void
    {
        foreach ($this->getMasters([$name]) as $master) {
            $this->forgetSupervisors($master->supervisors);
        }

        $this->connection()->del('master:'.$name);
        $this->connection()->zrem('masters', $name);
    }

    /**
     * @return string[]
     */
    public function supervisorNames(): array
    {
        return $this->connection()->zrevrangebyscore('supervisors', '+inf', (string) (time() - self::SUPERVISOR_FRESH)) ?: [];
    }

    /**
     * @return object[] each with name, master, pid, status, processes, options, worker_pids
     */
    public function supervisors(): array
    {
        $names = $this->supervisorNames();

        if ($names === []) {
            return [];
        }

        $records = $this->connection()->pipeline(function ($pipe) use ($names) {
            foreach ($names as $name) {
                $pipe->hMGet('supervisor:'.$name, ['name', 'master', 'pid', 'status', 'processes', 'options', 'worker_pids']);
            }
        });

        $supervisors = [];

        foreach ($records as $record) {
            if (! is_array($record) || empty($record['name'])) {
                continue;
            }

            $supervisors[] = (object) [
                'name' => $record['name'],
                'master' => $record['master'],
                'pid' => (int) $record['pid'],
                'status' => $record['status'],
                'processes' => json_decode((string) $record['processes'], true) ?: [],
                'options' => json_decode((string) $record['options'], true) ?: [],
                'worker_pids' => json_decode((string) $record['worker_pids'], true) ?: [],
            ];
        }

        return $supervisors;
    }

    public function updateSupervisor(string $name, string $master, int $pid, string $status, array $processes, array $options, array $workerPids): void
    {
        $this->connection()->pipeline(function ($pipe) use ($name, $master, $pid, $status, $processes, $options, $workerPids) {
            $pipe->hMSet('supervisor:'.$name, [
                'name' => $name,
                'master' => $master,
                'pid' => $pid,
                'status' => $status,
                'processes' => json_encode((object) $processes),
                'options' => json_encode($options),
                'worker_pids' => json_encode(array_values($workerPids)),
            ]);
            $pipe->zAdd('supervisors', time(), $name);
            $pipe->expire('supervisor:'.$name, self::SUPERVISOR_TTL);
        });
    }

    /**
     * @param  string[]  $names
     */
    public function forgetSupervisors(array $names): void
    {
        if ($names === []) {
            return;
        }

        $this->connection()->del(...array_map(function ($name) {
            return 'supervisor:'.$name;
        }, $names));
        $this->connection()->zrem('supervisors', ...$names);
    }

    /**
     * Remove heartbeats older than Horizon's windows from the sorted sets.
     */
    public function flushExpired(): void
    {
        $this->connection()->zremrangebyscore('masters', '-inf', (string) (time() - self::MASTER_FRESH));
        $this->connection()->zremrangebyscore('supervisors', '-inf', (string) (time() - self::SUPERVISOR_FRESH));
    }
}
