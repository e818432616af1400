<?php

namespace App\Horizon;

use InvalidArgumentException;

/**
 * The options of one supervisor, from the documented keys of
 * config/horizon.php (environments.<env>.<supervisor>, merged over defaults).
 *
 * Read: connection, queue, balance, autoScalingStrategy, minProcesses,
 * maxProcesses (or its alias processes), balanceMaxShift, balanceCooldown,
 * tries, timeout, memory, nice. Any other key is ignored.
 */
class SupervisorOptions
{
    /** Seconds a worker sleeps when its queues are empty (Horizon's default). */
    public const SLEEP = 3;

    /** @var string "<master>:<supervisor>" */
    public $name;

    /** @var string */
    public $connection;

    /** @var string comma separated, in priority order */
    public $queue;

    /** @var string simple|auto|off (accepted; see HORIZON-STANDIN.md) */
    public $balance;

    /** @var string|null */
    public $autoScalingStrategy;

    /** @var int */
    public $minProcesses;

    /** @var int */
    public $maxProcesses;

    /** @var int */
    public $balanceMaxShift;

    /** @var int */
    public $balanceCooldown;

    /** @var int */
    public $tries;

    /** @var int */
    public $timeout;

    /** @var int */
    public $memory;

    /** @var int */
    public $nice;

    /**
     * @param  array<string, mixed>  $config  one supervisor's entry of config/horizon.php
     * @param  callable(string): ?string  $defaultQueue  connection name => its default queue
     */
    public static function fromConfig(string $name, array $config, callable $defaultQueue): self
    {
        $options = new self;
        $short = self::shortName($name);

        $options->name = $name;
        $options->connection = (string) ($config['connection'] ?? 'redis');

        $queue = $config['queue'] ?? null;
        $queue = is_array($queue) ? implode(',', $queue) : (string) $queue;
        $options->queue = $queue !== '' ? $queue : (string) $defaultQueue($options->connection);

        $balance = $config['balance'] ?? 'off';
        $options->balance = ($balance === false || $balance === null || $balance === '') ? 'off' : (string) $balance;
        $options->autoScalingStrategy = isset($config['autoScalingStrategy']) ? (string) $config['autoScalingStrategy'] : null;

        $options->maxProcesses = self::integer($short, 'maxProcesses', $config['maxProcesses'] ?? $config['processes'] ?? 1, 1);
        $options->minProcesses = self::integer($short, 'minProcesses', $config['minProcesses'] ?? 1, 1);
        $options->balanceMaxShift = self::integer($short, 'balanceMaxShift', $config['balanceMaxShift'] ?? 1, 0);
        $options->balanceCooldown = self::integer($short, 'balanceCooldown', $config['balanceCooldown'] ?? 3, 0);
        $options->tries = self::integer($short, 'tries', $config['tries'] ?? $config['maxTries'] ?? 0, 0);
        $options->timeout = self::integer($short, 'timeout', $config['timeout'] ?? 60, 0);
        $options->memory = self::integer($short, 'memory', $config['memory'] ?? 128, 0);
        $options->nice = self::integer($short, 'nice', $config['nice'] ?? 0, -20);

        if (! in_array($options->balance, ['simple', 'auto', 'off'], true)) {
            throw new InvalidArgumentException("The value of [{$short}.balance] must be simple, auto or false.");
        }

        if ($options->queue === '') {
            throw new InvalidArgumentException("The supervisor [{$short}] has no queue.");
        }

        return $options;
    }

    private static function integer(string $supervisor, string $key, $value, int $min): int
    {
        if (is_string($value) && preg_match('/^-?\d+$/', $value)) {
            $value = (int) $value;
        }

        if (! is_int($value) || $value < $min) {
            throw new InvalidArgumentException("The value of [{$supervisor}.{$key}] must be an integer >= {$min}.");
        }

        return $value;
    }

    public static function shortName(string $name): string
    {
        $parts = explode(':', $name, 2);

        return $parts[1] ?? $name;
    }

    /**
     * The options Horizon passes to both the supervisor and its workers.
     *
     * @return string[]
     */
    private function workerOptions(): array
    {
        return [
            '--backoff=0',
            '--max-time=0',
            '--max-jobs=0',
            '--memory='.$this->memory,
            '--queue='.$this->queue,
            '--sleep='.self::SLEEP,
            '--timeout='.$this->timeout,
            '--tries='.$this->tries,
            '--rest=0',
        ];
    }

    /**
     * The arguments of the horizon:supervisor command that runs this
     * supervisor, in Horizon's order (the master adds --parent-id).
     *
     * @return string[]
     */
    public function toSupervisorArguments(): array
    {
        return array_merge([
            $this->name,
            $this->connection,
            '--workers-name=default',
            '--balance='.$this->balance,
            '--max-processes='.$this->maxProcesses,
            '--min-processes='.$this->minProcesses,
            '--nice='.$this->nice,
            '--balance-cooldown='.$this->balanceCooldown,
            '--balance-max-shift='.$this->balanceMaxShift,
            '--auto-scaling-strategy='.($this->autoScalingStrategy ?? 'time'),
        ], $this->workerOptions());
    }

    /**
     * The command line of one worker (argv, no shell): Horizon's
     * `horizon:work`, a queue:work that names its supervisor.
     *
     * @return string[]
     */
    public function workerCommand(string $php, string $artisan): array
    {
        $command = array_merge(
            [$php, $artisan, 'horizon:work', $this->connection, '--name=default', '--supervisor='.$this->name],
            $this->workerOptions()
        );

        if ($this->nice !== 0) {
            $command = array_merge(['nice', '-n', (string) $this->nice], $command);
        }

        return $command;
    }

    /**
     * @return array<string, mixed>
     */
    public function toArray(): array
    {
        return [
            'name' => $this->name,
            'connection' => $this->connection,
            'queue' => $this->queue,
            'balance' => $this->balance,
            'autoScalingStrategy' => $this->autoScalingStrategy,
            'minProcesses' => $this->minProcesses,
            'maxProcesses' => $this->maxProcesses,
            'balanceMaxShift' => $this->balanceMaxShift,
            'balanceCooldown' => $this->balanceCooldown,
            'maxTries' => $this->tries,
            'timeout' => $this->timeout,
            'memory' => $this->memory,
            'nice' => $this->nice,
            'sleep' => self::SLEEP,
        ];
    }
}
