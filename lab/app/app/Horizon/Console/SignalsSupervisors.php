<?php

namespace App\Horizon\Console;

use App\Horizon\MasterSupervisor;
use App\Horizon\Repository;
use App\Horizon\SupervisorOptions;

/**
 * Supervisors are looked up on this machine by their configured name
 * ("supervisor-1") or their full name ("<master>:supervisor-1").
 */
trait SignalsSupervisors
{
    use RendersComponents;

    protected function findLocalSupervisor(Repository $repository, string $name): ?object
    {
        foreach ($repository->supervisors() as $supervisor) {
            if (MasterSupervisor::isOnThisMachine($supervisor->name)
                && ($supervisor->name === $name || SupervisorOptions::shortName($supervisor->name) === $name)) {
                return $supervisor;
            }
        }

        return null;
    }

    protected function signalLocalSupervisor(Repository $repository, string $name, int $signal, string $signalName): int
    {
        $supervisor = $this->findLocalSupervisor($repository, $name);

        if ($supervisor === null || $supervisor->pid <= 0) {
            $this->componentError('Failed to find a supervisor with this name');

            return 1;
        }

        $this->componentInfo("Sending {$signalName} signal to process: {$supervisor->pid}");

        if (! posix_kill($supervisor->pid, $signal)) {
            $this->componentError("Failed to send {$signalName} signal to process: {$supervisor->pid}: ".posix_strerror(posix_get_last_error()));

            return 1;
        }

        return 0;
    }
}
