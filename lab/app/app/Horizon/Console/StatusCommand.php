<?php

namespace App\Horizon\Console;

use App\Horizon\Contract;
use App\Horizon\Repository;
use Illuminate\Console\Command;

class StatusCommand extends Command
{
    use RendersComponents;

    protected $signature = 'horizon:status';

    protected $description = 'Get the current status of Horizon';

    /**
     * Every master registered on this Redis, every host: exit 0 running,
     * 1 paused (any master), inactive 1 up to 5.24 and 2 from 5.25.
     */
    public function handle(Repository $repository): int
    {
        $masters = $repository->masters();

        if ($masters === []) {
            $this->sayError('Horizon is inactive.');

            return Contract::inactiveExitCode();
        }

        foreach ($masters as $master) {
            if ($master->status === 'paused') {
                $this->sayWarn('Horizon is paused.');

                return 1;
            }
        }

        $this->sayInfo('Horizon is running.');

        return 0;
    }
}
