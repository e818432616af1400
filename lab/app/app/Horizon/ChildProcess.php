<?php

namespace App\Horizon;

use RuntimeException;

/**
 * One child process started with proc_open() (argv form: no shell), sharing
 * the parent's stdout and stderr and the parent's process group.
 */
class ChildProcess
{
    /** @var resource */
    private $process;

    /** @var int */
    private $pid;

    /** @var float */
    private $startedAt;

    /** @var int|null */
    private $exitCode = null;

    /** @var int|null */
    private $termSignal = null;

    /** @var bool */
    private $running = true;

    /**
     * @param  string[]  $command
     */
    public function __construct(array $command, string $cwd)
    {
        $descriptors = [
            0 => ['file', '/dev/null', 'r'],
            1 => STDOUT,
            2 => STDERR,
        ];

        $process = proc_open($command, $descriptors, $pipes, $cwd);

        if (! is_resource($process)) {
            throw new RuntimeException('Cannot start: '.implode(' ', $command));
        }

        $this->process = $process;
        $this->pid = (int) proc_get_status($process)['pid'];
        $this->startedAt = microtime(true);
    }

    public function pid(): int
    {
        return $this->pid;
    }

    public function age(): float
    {
        return microtime(true) - $this->startedAt;
    }

    /**
     * Reap the child if it has exited (proc_get_status reports the exit code
     * only once, so it is remembered).
     */
    public function isRunning(): bool
    {
        if (! $this->running) {
            return false;
        }

        $status = proc_get_status($this->process);

        if ($status['running']) {
            return true;
        }

        $this->running = false;
        $this->exitCode = $status['exitcode'];
        $this->termSignal = $status['signaled'] ? $status['termsig'] : null;
        proc_close($this->process);

        return false;
    }

    public function signal(int $signal): bool
    {
        if (! $this->isRunning()) {
            return false;
        }

        return posix_kill($this->pid, $signal);
    }

    public function describeExit(): string
    {
        if ($this->termSignal !== null) {
            return 'was killed by signal '.$this->termSignal;
        }

        return 'exited with code '.$this->exitCode;
    }

    public function exitCode(): ?int
    {
        return $this->exitCode;
    }
}
