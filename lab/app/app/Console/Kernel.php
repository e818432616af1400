<?php

namespace App\Console;

use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Foundation\Console\Kernel as ConsoleKernel;

class Kernel extends ConsoleKernel
{
    /**
     * Commands are listed explicitly: the app has no composer class map.
     *
     * @var array
     */
    protected $commands = [
        Commands\DemoDispatchCommand::class,
        Commands\DemoHeartbeatCommand::class,
        Commands\DemoProcessedCommand::class,
        \App\Horizon\Console\HorizonCommand::class,
        \App\Horizon\Console\SupervisorCommand::class,
        \App\Horizon\Console\WorkCommand::class,
        \App\Horizon\Console\StatusCommand::class,
        \App\Horizon\Console\ListCommand::class,
        \App\Horizon\Console\SupervisorsCommand::class,
        \App\Horizon\Console\PauseCommand::class,
        \App\Horizon\Console\ContinueCommand::class,
        \App\Horizon\Console\TerminateCommand::class,
        \App\Horizon\Console\PauseSupervisorCommand::class,
        \App\Horizon\Console\ContinueSupervisorCommand::class,
        \App\Horizon\Console\ClearCommand::class,
        \App\Horizon\Console\SnapshotCommand::class,
    ];

    /**
     * What the scheduler runs: a heartbeat every minute (the lab's proof that the schedule
     * runs), and the queue's upkeep every app should schedule.
     */
    protected function schedule(Schedule $schedule)
    {
        $schedule->command('demo:heartbeat')->everyMinute();
        $schedule->command('queue:prune-failed --hours=168')->daily();
        $schedule->command('horizon:snapshot')->everyFiveMinutes();
    }

    /**
     * horizon:supervisor-status exists from Horizon 5.28 only: the stand-in has it when its
     * contract is that release or a later one.
     */
    protected function commands()
    {
        if (\App\Horizon\Contract::hasSupervisorStatus()) {
            $this->commands[] = \App\Horizon\Console\SupervisorStatusCommand::class;
        }
    }
}
