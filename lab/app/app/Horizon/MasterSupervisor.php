<?php

namespace App\Horizon;

use Illuminate\Support\Str;
use Symfony\Component\Console\Output\OutputInterface;
use Throwable;

/**
 * The master: one `horizon:supervisor` child per configured supervisor,
 * each of which runs the supervisor's `horizon:work` processes.
 *
 * Signals: SIGUSR2 pauses, SIGCONT continues, SIGTERM/SIGINT terminate. As
 * Horizon's master, a terminating one removes its registration at once
 * (horizon:status says inactive while it still waits for its supervisors to
 * let their workers finish their current job), then exits 0. A paused
 * master does not restart a supervisor that died until it is continued.
 * Signal handlers only queue the signal; the loop acts on it, so Redis is
 * never used from inside a handler.
 */
class MasterSupervisor
{
    /** Seconds between loop iterations (signals wake the loop early). */
    private const TICK = 0.25;

    /** @var string */
    public $name;

    /** @var string */
    public $environment;

    /** @var SupervisorOptions[] keyed by supervisor name */
    private $options = [];

    /** @var ChildProcess[] keyed by supervisor name */
    private $supervisors = [];

    /** @var float[] keyed by supervisor name: earliest restart time */
    private $restartAt = [];

    /** @var Repository */
    private $repository;

    /** @var OutputInterface */
    private $output;

    /** @var string */
    private $basePath;

    /** @var int */
    private $memoryLimit;

    /** @var bool */
    public $working = true;

    /** @var bool */
    private $terminating = false;

    /** @var int */
    private $exitStatus = 0;

    /** @var int[] */
    private $pendingSignals = [];

    /** @var float */
    private $lastPersist = 0.0;

    /** @var bool whether the registration is still to be removed */
    private $registered = true;

    /** @var callable|null what to print on SIGINT */
    private $onInterrupt = null;

    /** @var bool */
    private $redisHealthy = true;

    /**
     * The part of every master name that identifies this machine.
     */
    public static function basename(): string
    {
        return Str::slug((string) gethostname());
    }

    public static function generateName(): string
    {
        return static::basename().'-'.Str::random(4);
    }

    /**
     * @param  SupervisorOptions[]  $options
     */
    public function __construct(string $name, string $environment, array $options, Repository $repository, OutputInterface $output, string $basePath, int $memoryLimit)
    {
        $this->name = $name;
        $this->environment = $environment;
        $this->repository = $repository;
        $this->output = $output;
        $this->basePath = $basePath;
        $this->memoryLimit = $memoryLimit;

        foreach ($options as $option) {
            $this->options[$option->name] = $option;
        }
    }

    public function onInterrupt(callable $callback): void
    {
        $this->onInterrupt = $callback;
    }

    /**
     * Start every supervisor and register in Redis.
     */
    public function start(): void
    {
        pcntl_async_signals(true);

        foreach ([SIGTERM, SIGINT, SIGUSR2, SIGCONT] as $signal) {
            pcntl_signal($signal, function (int $signal) {
                $this->pendingSignals[] = $signal;
            });
        }

        foreach ($this->options as $name => $option) {
            $this->startSupervisor($name);
        }

        $this->persist(true);
    }

    /**
     * Run until terminated; returns the exit status.
     */
    public function monitor(): int
    {
        while (true) {
            $this->handlePendingSignals();
            $this->superviseSupervisors();

            if ($this->terminating && $this->runningSupervisors() === []) {
                break;
            }

            if (! $this->terminating) {
                $this->persist();
                $this->monitorMemory();
            }

            usleep((int) (self::TICK * 1000000));
        }

        $this->unregister();

        return $this->exitStatus;
    }

    public function pause(): void
    {
        // A terminating master is no longer registered and acts on nothing else.
        if ($this->terminating) {
            return;
        }

        $this->working = false;
        $this->signalSupervisors(SIGUSR2);
        $this->persist(true);
    }

    public function continue(): void
    {
        if ($this->terminating) {
            return;
        }

        $this->working = true;
        $this->signalSupervisors(SIGCONT);
        $this->persist(true);
    }

    public function terminate(int $status = 0): void
    {
        if ($this->terminating) {
            return;
        }

        $this->terminating = true;
        $this->exitStatus = $status;
        $this->signalSupervisors(SIGTERM);
        $this->unregister();
    }

    /**
     * Remove this master's registration (and its supervisors'); retried at
     * exit when Redis could not be reached.
     */
    private function unregister(): void
    {
        if (! $this->registered) {
            return;
        }

        try {
            $this->repository->forgetMaster($this->name);
            $this->registered = false;
        } catch (Throwable $e) {
            $this->error('Could not unregister from Redis: '.$e->getMessage());
            $this->repository->reconnect();
        }
    }

    private function handlePendingSignals(): void
    {
        while ($this->pendingSignals !== []) {
            $signal = array_shift($this->pendingSignals);

            switch ($signal) {
                case SIGINT:
                    if ($this->onInterrupt !== null) {
                        ($this->onInterrupt)();
                    }
                    $this->terminate();
                    break;
                case SIGTERM:
                    $this->terminate();
                    break;
                case SIGUSR2:
                    $this->pause();
                    break;
                case SIGCONT:
                    $this->continue();
                    break;
            }
        }
    }

    private function startSupervisor(string $name): void
    {
        $option = $this->options[$name];

        $command = array_merge(
            [PHP_BINARY, $this->basePath.'/artisan', 'horizon:supervisor'],
            $option->toSupervisorArguments(),
            ['--parent-id='.getmypid()],
            $this->working ? [] : ['--paused']
        );

        $this->supervisors[$name] = new ChildProcess($command, $this->basePath);
    }

    /**
     * Restart supervisors that died, unless terminating or paused. The
     * workers of a supervisor that died abruptly (SIGKILL, crash) are
     * orphans: they get SIGTERM, so they finish their current job and exit.
     */
    private function superviseSupervisors(): void
    {
        foreach ($this->supervisors as $name => $process) {
            if ($process->isRunning()) {
                continue;
            }

            if (! isset($this->restartAt[$name])) {
                if ($process->exitCode() !== 0) {
                    $this->error("Supervisor {$name} (pid {$process->pid()}) {$process->describeExit()}.");
                    $this->stopOrphanedWorkers($name);
                }

                $this->restartAt[$name] = microtime(true) + ($process->age() < 5 ? 1.0 : 0.0);
            }

            if (! $this->terminating && $this->working && microtime(true) >= $this->restartAt[$name]) {
                unset($this->restartAt[$name]);
                $this->startSupervisor($name);
            }
        }
    }

    /**
     * SIGTERM the horizon:work processes a dead supervisor last registered.
     */
    private function stopOrphanedWorkers(string $name): void
    {
        try {
            $record = null;

            foreach ($this->repository->supervisors() as $supervisor) {
                if ($supervisor->name === $name) {
                    $record = $supervisor;
                }
            }
        } catch (Throwable $e) {
            $this->error("Cannot look up the workers of {$name}: ".$e->getMessage());

            return;
        }

        foreach ($record ? $record->worker_pids : [] as $pid) {
            $cmdline = @file_get_contents('/proc/'.(int) $pid.'/cmdline');

            if (is_string($cmdline) && strpos($cmdline, 'horizon:work') !== false && posix_kill((int) $pid, SIGTERM)) {
                $this->error("Sent TERM to orphaned worker {$pid} of {$name}.");
            }
        }
    }

    /**
     * @return ChildProcess[]
     */
    private function runningSupervisors(): array
    {
        return array_filter($this->supervisors, function (ChildProcess $process) {
            return $process->isRunning();
        });
    }

    private function signalSupervisors(int $signal): void
    {
        foreach ($this->runningSupervisors() as $process) {
            $process->signal($signal);
        }
    }

    /**
     * Refresh the registration (heartbeat) about once a second.
     */
    private function persist(bool $now = false): void
    {
        if (! $now && microtime(true) - $this->lastPersist < 1.0) {
            return;
        }

        $this->lastPersist = microtime(true);

        try {
            $this->repository->updateMaster(
                $this->name,
                $this->environment,
                getmypid(),
                $this->working ? 'running' : 'paused',
                array_keys($this->options)
            );
            $this->repository->flushExpired();

            if (! $this->redisHealthy) {
                $this->error('Redis is reachable again; registration restored.');
            }

            $this->redisHealthy = true;
        } catch (Throwable $e) {
            if ($this->redisHealthy) {
                $this->error('Cannot register in Redis (workers keep running): '.$e->getMessage());
            }

            $this->redisHealthy = false;
            $this->repository->reconnect();
        }
    }

    /**
     * Horizon's memory_limit (MB): a master above it terminates gracefully
     * with status 12, so its process manager starts a fresh one.
     */
    private function monitorMemory(): void
    {
        if (! $this->terminating && $this->memoryLimit > 0
            && memory_get_usage(true) / 1024 / 1024 > $this->memoryLimit) {
            $this->error("Master memory above {$this->memoryLimit} MB; terminating.");
            $this->terminate(12);
        }
    }

    private function error(string $message): void
    {
        $stream = $this->output instanceof \Symfony\Component\Console\Output\ConsoleOutputInterface
            ? $this->output->getErrorOutput()
            : $this->output;

        $stream->writeln('['.date('Y-m-d H:i:s').'] horizon: '.$message, OutputInterface::OUTPUT_RAW);
    }
}
