<?php

use Illuminate\Support\Str;

/*
 * Configuration of the Horizon stand-in (see HORIZON-STANDIN.md).
 *
 * The keys and their meaning are laravel/horizon 5.x's; the stand-in reads
 * only: prefix, memory_limit, defaults, environments and, per supervisor,
 * connection, queue, balance, autoScalingStrategy, minProcesses,
 * maxProcesses, balanceMaxShift, balanceCooldown, tries, timeout, memory,
 * nice. `waits` and `trim` are kept for compatibility with Horizon and are
 * not used by the stand-in.
 *
 * As in Horizon, each supervisor of the environment is merged over
 * `defaults` with array_replace_recursive(): a supervisor that only exists
 * in `defaults` is started too, and list values (queue) are replaced index
 * by index.
 */

return [

    'prefix' => env('HORIZON_PREFIX', Str::slug(env('APP_NAME', 'laravel'), '_').'_horizon:'),

    'waits' => [
        'redis:default' => 60,
    ],

    'trim' => [
        'recent' => 60,
        'pending' => 60,
        'completed' => 60,
        'recent_failed' => 10080,
        'failed' => 10080,
        'monitored' => 10080,
    ],

    'memory_limit' => 64,

    'defaults' => [],

    'environments' => [

        'production' => [
            'supervisor-1' => [
                'connection' => 'redis',
                'queue' => ['default'],
                'balance' => 'simple',
                'maxProcesses' => 2,
                'tries' => 3,
                'timeout' => 60,
            ],
        ],

    ],

];
