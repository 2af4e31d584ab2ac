/**
 * Test vectors of github.com/containerd/platforms at 09756f59cb1d6b3fb368f371043d36e634789537, transcribed from its own test tables
 * (Apache License 2.0, Copyright The containerd Authors). Each export names its upstream file and test function.
 * `{ $: name }` stands for a Go variable of the test (defaultOS, defaultArch, defaultVariant: this host), and
 * `{ call: 'path.Join', args }` for the Go call the expectation is written with.
 */
import type { Platform } from '../../../src/platform/index.js';

/** A platform of TestParseSelector, some fields written with the test's Go variables. */
export interface GoPlatform {
  os: string | { $: string };
  architecture: string | { $: string };
  variant?: string | { $: string };
  osVersion?: string;
  osFeatures?: string[];
}

export type GoValue = string | { readonly $: string } | { readonly call: string; readonly args: readonly GoValue[] };

/** platforms_test.go, TestParseSelector. */
export const parseSelector: readonly {
  input: string;
  skip: boolean;
  expected: GoPlatform;
  matches: readonly Platform[];
  formatted: GoValue;
  useV2Format: boolean;
}[] = [
  {
    input: '*',
    skip: true,
    expected: {
      os: '*',
      architecture: '*',
    },
    matches: [],
    formatted: '*/*',
    useV2Format: false,
  },
  {
    input: 'linux/*',
    skip: true,
    expected: {
      os: 'linux',
      architecture: '*',
    },
    matches: [],
    formatted: 'linux/*',
    useV2Format: false,
  },
  {
    input: '*/arm64',
    skip: true,
    expected: {
      os: '*',
      architecture: 'arm64',
    },
    matches: [
      {
        os: '*',
        architecture: 'aarch64',
      },
      {
        os: '*',
        architecture: 'aarch64',
        variant: 'v8',
      },
      {
        os: '*',
        architecture: 'arm64',
        variant: 'v8',
      },
    ],
    formatted: '*/arm64',
    useV2Format: false,
  },
  {
    input: 'linux/arm64',
    skip: false,
    expected: {
      os: 'linux',
      architecture: 'arm64',
    },
    matches: [
      {
        os: 'linux',
        architecture: 'aarch64',
      },
      {
        os: 'linux',
        architecture: 'aarch64',
        variant: 'v8',
      },
      {
        os: 'linux',
        architecture: 'arm64',
        variant: 'v8',
      },
    ],
    formatted: 'linux/arm64',
    useV2Format: false,
  },
  {
    input: 'linux/arm64/v8',
    skip: false,
    expected: {
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    },
    matches: [
      {
        os: 'linux',
        architecture: 'aarch64',
      },
      {
        os: 'linux',
        architecture: 'aarch64',
        variant: 'v8',
      },
      {
        os: 'linux',
        architecture: 'arm64',
      },
    ],
    formatted: 'linux/arm64/v8',
    useV2Format: false,
  },
  {
    input: 'linux/arm',
    skip: false,
    expected: {
      os: 'linux',
      architecture: 'arm',
    },
    matches: [
      {
        os: 'linux',
        architecture: 'arm',
        variant: 'v7',
      },
      {
        os: 'linux',
        architecture: 'armhf',
      },
      {
        os: 'linux',
        architecture: 'arm',
        variant: '7',
      },
    ],
    formatted: 'linux/arm',
    useV2Format: false,
  },
  {
    input: 'linux/arm/v6',
    skip: false,
    expected: {
      os: 'linux',
      architecture: 'arm',
      variant: 'v6',
    },
    matches: [
      {
        os: 'linux',
        architecture: 'armel',
      },
    ],
    formatted: 'linux/arm/v6',
    useV2Format: false,
  },
  {
    input: 'linux/arm/v7',
    skip: false,
    expected: {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    },
    matches: [
      {
        os: 'linux',
        architecture: 'arm',
      },
      {
        os: 'linux',
        architecture: 'armhf',
      },
    ],
    formatted: 'linux/arm/v7',
    useV2Format: false,
  },
  {
    input: 'arm',
    skip: false,
    expected: {
      os: {
        $: 'defaultOS',
      },
      architecture: 'arm',
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        {
          $: 'defaultOS',
        },
        'arm',
      ],
    },
    useV2Format: false,
  },
  {
    input: 'armel',
    skip: false,
    expected: {
      os: {
        $: 'defaultOS',
      },
      architecture: 'arm',
      variant: 'v6',
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        {
          $: 'defaultOS',
        },
        'arm/v6',
      ],
    },
    useV2Format: false,
  },
  {
    input: 'armhf',
    skip: false,
    expected: {
      os: {
        $: 'defaultOS',
      },
      architecture: 'arm',
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        {
          $: 'defaultOS',
        },
        'arm',
      ],
    },
    useV2Format: false,
  },
  {
    input: 'Aarch64',
    skip: false,
    expected: {
      os: {
        $: 'defaultOS',
      },
      architecture: 'arm64',
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        {
          $: 'defaultOS',
        },
        'arm64',
      ],
    },
    useV2Format: false,
  },
  {
    input: 'x86_64',
    skip: false,
    expected: {
      os: {
        $: 'defaultOS',
      },
      architecture: 'amd64',
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        {
          $: 'defaultOS',
        },
        'amd64',
      ],
    },
    useV2Format: false,
  },
  {
    input: 'Linux/x86_64',
    skip: false,
    expected: {
      os: 'linux',
      architecture: 'amd64',
    },
    matches: [],
    formatted: 'linux/amd64',
    useV2Format: false,
  },
  {
    input: 'i386',
    skip: false,
    expected: {
      os: {
        $: 'defaultOS',
      },
      architecture: '386',
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        {
          $: 'defaultOS',
        },
        '386',
      ],
    },
    useV2Format: false,
  },
  {
    input: 'linux',
    skip: false,
    expected: {
      os: 'linux',
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'linux',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: false,
  },
  {
    input: 's390x',
    skip: false,
    expected: {
      os: {
        $: 'defaultOS',
      },
      architecture: 's390x',
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        {
          $: 'defaultOS',
        },
        's390x',
      ],
    },
    useV2Format: false,
  },
  {
    input: 'linux/s390x',
    skip: false,
    expected: {
      os: 'linux',
      architecture: 's390x',
    },
    matches: [],
    formatted: 'linux/s390x',
    useV2Format: false,
  },
  {
    input: 'macOS',
    skip: false,
    expected: {
      os: 'darwin',
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'darwin',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: false,
  },
  {
    input: 'windows',
    skip: false,
    expected: {
      os: 'windows',
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'windows',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: false,
  },
  {
    input: 'windows()',
    skip: false,
    expected: {
      os: 'windows',
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'windows',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'windows(10.0.17763)',
    skip: false,
    expected: {
      os: 'windows',
      osVersion: '10.0.17763',
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'windows(10.0.17763)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'windows(10.0.17763+win32k)',
    skip: false,
    expected: {
      os: 'windows',
      osVersion: '10.0.17763',
      osFeatures: ['win32k'],
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'windows(10.0.17763+win32k)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'linux(+gpu)',
    skip: false,
    expected: {
      os: 'linux',
      osFeatures: ['gpu'],
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'linux(+gpu)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'linux(+gpu+simd)',
    skip: false,
    expected: {
      os: 'linux',
      osFeatures: ['gpu', 'simd'],
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'linux(+gpu+simd)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'linux(+unsorted+erofs)',
    skip: false,
    expected: {
      os: 'linux',
      osFeatures: ['unsorted', 'erofs'],
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'linux(+erofs+unsorted)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'windows(10.0.17763%2Bbuild.42)',
    skip: false,
    expected: {
      os: 'windows',
      osVersion: '10.0.17763+build.42',
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'windows(10.0.17763%2Bbuild.42)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'windows(10.0.17763%2Bbuild.42+win32k)',
    skip: false,
    expected: {
      os: 'windows',
      osVersion: '10.0.17763+build.42',
      osFeatures: ['win32k'],
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'windows(10.0.17763%2Bbuild.42+win32k)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
  {
    input: 'windows(50%25done)',
    skip: false,
    expected: {
      os: 'windows',
      osVersion: '50%done',
      architecture: {
        $: 'defaultArch',
      },
      variant: {
        $: 'defaultVariant',
      },
    },
    matches: [],
    formatted: {
      call: 'path.Join',
      args: [
        'windows(50%25done)',
        {
          $: 'defaultArch',
        },
        {
          $: 'defaultVariant',
        },
      ],
    },
    useV2Format: true,
  },
];

/** platforms_test.go, TestFormatAllEncoding. */
export const formatAllEncoding: readonly { platform: Platform; expected: string }[] = [
  {
    platform: {
      os: 'windows',
      osVersion: '10.0.17763+build.42',
      architecture: 'amd64',
    },
    expected: 'windows(10.0.17763%2Bbuild.42)/amd64',
  },
  {
    platform: {
      os: 'windows',
      osVersion: '10.0.17763+build.42',
      osFeatures: ['win32k'],
      architecture: 'amd64',
    },
    expected: 'windows(10.0.17763%2Bbuild.42+win32k)/amd64',
  },
  {
    platform: {
      os: 'windows',
      osVersion: '50%done',
      architecture: 'amd64',
    },
    expected: 'windows(50%25done)/amd64',
  },
  {
    platform: {
      os: 'windows',
      osVersion: '1.0(beta)',
      architecture: 'amd64',
    },
    expected: 'windows(1.0%28beta%29)/amd64',
  },
  {
    platform: {
      os: 'windows',
      osVersion: 'a/b',
      architecture: 'amd64',
    },
    expected: 'windows(a%2Fb)/amd64',
  },
  {
    platform: {
      os: 'windows',
      osVersion: '10.0.17763',
      architecture: 'amd64',
    },
    expected: 'windows(10.0.17763)/amd64',
  },
  {
    platform: {
      os: 'linux',
      osFeatures: ['feat+v2'],
      architecture: 'amd64',
    },
    expected: 'linux(+feat%2Bv2)/amd64',
  },
  {
    platform: {
      os: 'linux',
      osFeatures: ['100%gpu'],
      architecture: 'amd64',
    },
    expected: 'linux(+100%25gpu)/amd64',
  },
  {
    platform: {
      os: 'windows',
      osVersion: '10.0+build',
      osFeatures: ['feat+1'],
      architecture: 'amd64',
    },
    expected: 'windows(10.0%2Bbuild+feat%2B1)/amd64',
  },
];

/** platforms_test.go, TestParseSelectorInvalid. */
export const parseSelectorInvalid: readonly string[] = [
  '',
  '/linux/arm',
  'linux/arm/',
  'linux /arm',
  'linux/&arm',
  'linux/arm/foo/bar',
];

/** compare_test.go, TestOnly. */
export const onlyMatches: readonly { platform: string; match: readonly string[]; noMatch: readonly string[] }[] = [
  {
    platform: 'linux/amd64',
    match: ['linux/amd64', 'linux/386'],
    noMatch: ['linux/amd64/v2', 'linux/arm/v7', 'linux/arm64', 'windows/amd64', 'windows/arm'],
  },
  {
    platform: 'linux/amd64/v2',
    match: ['linux/amd64', 'linux/amd64/v1', 'linux/amd64/v2', 'linux/386'],
    noMatch: ['linux/amd64/v3', 'linux/amd64/v4', 'linux/arm/v7', 'linux/arm64', 'windows/amd64', 'windows/arm'],
  },
  {
    platform: 'linux/386',
    match: ['linux/386'],
    noMatch: ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/amd64', 'windows/arm'],
  },
  {
    platform: 'windows/amd64',
    match: ['windows/amd64', 'windows(10.0.17763)/amd64'],
    noMatch: ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/arm'],
  },
  {
    platform: 'linux/arm/v8',
    match: ['linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8'],
    noMatch: ['linux/amd64', 'linux/arm/v4', 'linux/arm64', 'windows/amd64', 'windows/arm'],
  },
  {
    platform: 'linux/arm/v7',
    match: ['linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7'],
    noMatch: ['linux/amd64', 'linux/arm/v4', 'linux/arm/v8', 'linux/arm64', 'windows/amd64', 'windows/arm'],
  },
  {
    platform: 'linux/arm/v6',
    match: ['linux/arm/v5', 'linux/arm/v6'],
    noMatch: [
      'linux/amd64',
      'linux/arm',
      'linux/arm/v4',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'windows/amd64',
      'windows/arm',
    ],
  },
  {
    platform: 'linux/arm/v5',
    match: ['linux/arm/v5'],
    noMatch: [
      'linux/amd64',
      'linux/arm',
      'linux/arm/v4',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'windows/amd64',
      'windows/arm',
    ],
  },
  {
    platform: 'linux/arm/v4',
    match: ['linux/arm/v4'],
    noMatch: [
      'linux/amd64',
      'linux/arm',
      'linux/arm/v5',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'windows/amd64',
      'windows/arm',
    ],
  },
  {
    platform: 'linux/arm64/v9.6',
    match: [
      'linux/arm',
      'linux/arm/v5',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'linux/arm64/v8',
      'linux/arm64/v8.1',
      'linux/arm64/v8.2',
      'linux/arm64/v8.3',
      'linux/arm64/v8.4',
      'linux/arm64/v8.5',
      'linux/arm64/v8.6',
      'linux/arm64/v8.7',
      'linux/arm64/v8.8',
      'linux/arm64/v8.9',
      'linux/arm64/v9',
      'linux/arm64/v9.0',
      'linux/arm64/v9.1',
      'linux/arm64/v9.2',
      'linux/arm64/v9.3',
      'linux/arm64/v9.4',
      'linux/arm64/v9.5',
      'linux/arm64/v9.6',
    ],
    noMatch: ['linux/amd64', 'linux/arm/v4', 'windows/amd64', 'windows/arm', 'linux/arm64/v8.10'],
  },
  {
    platform: 'linux/arm64/v9',
    match: [
      'linux/arm',
      'linux/arm/v5',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'linux/arm64/v8',
      'linux/arm64/v8.1',
      'linux/arm64/v8.2',
      'linux/arm64/v8.3',
      'linux/arm64/v8.4',
      'linux/arm64/v8.5',
      'linux/arm64/v9',
      'linux/arm64/v9.0',
    ],
    noMatch: ['linux/amd64', 'linux/arm/v4', 'windows/amd64', 'windows/arm', 'linux/arm64/v8.6'],
  },
  {
    platform: 'linux/arm64/v8.1',
    match: [
      'linux/arm',
      'linux/arm/v5',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'linux/arm64/v8',
      'linux/arm64/v8.1',
    ],
    noMatch: ['linux/amd64', 'linux/arm/v4', 'linux/arm/v9', 'linux/arm64/v9', 'windows/amd64', 'windows/arm'],
  },
  {
    platform: 'linux/arm64',
    match: [
      'linux/arm',
      'linux/arm/v5',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'linux/arm64/v8',
    ],
    noMatch: ['linux/amd64', 'linux/arm/v4', 'linux/arm/v9', 'linux/arm64/v9', 'windows/amd64', 'windows/arm'],
  },
];

/** compare_test.go, TestOnlyStrict. */
export const onlyStrictMatches: readonly { platform: string; match: readonly string[]; noMatch: readonly string[] }[] =
  [
    {
      platform: 'linux/amd64',
      match: ['linux/amd64'],
      noMatch: ['linux/386', 'linux/arm/v7', 'linux/arm64', 'windows/amd64', 'windows/arm'],
    },
    {
      platform: 'linux/386',
      match: ['linux/386'],
      noMatch: ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/amd64', 'windows/arm'],
    },
    {
      platform: 'windows/amd64',
      match: ['windows/amd64', 'windows(10.0.17763)/amd64'],
      noMatch: ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/arm'],
    },
    {
      platform: 'windows(10.0.17763)/amd64',
      match: ['windows/amd64', 'windows(10.0.17763)/amd64'],
      noMatch: ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/arm'],
    },
    {
      platform: 'linux/arm/v8',
      match: ['linux/arm/v8'],
      noMatch: [
        'linux/arm',
        'linux/arm/v5',
        'linux/arm/v6',
        'linux/arm/v7',
        'linux/amd64',
        'linux/arm/v4',
        'linux/arm64',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm/v7',
      match: ['linux/arm', 'linux/arm/v7'],
      noMatch: [
        'linux/arm/v5',
        'linux/arm/v6',
        'linux/amd64',
        'linux/arm/v4',
        'linux/arm/v8',
        'linux/arm64',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm/v6',
      match: ['linux/arm/v6'],
      noMatch: [
        'linux/arm/v5',
        'linux/amd64',
        'linux/arm',
        'linux/arm/v4',
        'linux/arm/v7',
        'linux/arm/v8',
        'linux/arm64',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm/v5',
      match: ['linux/arm/v5'],
      noMatch: [
        'linux/amd64',
        'linux/arm',
        'linux/arm/v4',
        'linux/arm/v6',
        'linux/arm/v7',
        'linux/arm/v8',
        'linux/arm64',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm/v4',
      match: ['linux/arm/v4'],
      noMatch: [
        'linux/amd64',
        'linux/arm',
        'linux/arm/v5',
        'linux/arm/v6',
        'linux/arm/v7',
        'linux/arm/v8',
        'linux/arm64',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm64/v9.5',
      match: ['linux/arm64/v9.5'],
      noMatch: [
        'linux/arm',
        'linux/arm/v5',
        'linux/arm/v6',
        'linux/arm/v7',
        'linux/arm/v8',
        'linux/amd64',
        'linux/arm/v4',
        'linux/arm64/v8',
        'linux/arm64/v8.1',
        'linux/arm64/v9',
        'linux/arm64/v9.1',
        'linux/arm64/v9.4',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm64/v9',
      match: ['linux/arm64/v9', 'linux/arm64/v9.0'],
      noMatch: [
        'linux/arm',
        'linux/arm/v5',
        'linux/arm/v6',
        'linux/arm/v7',
        'linux/arm/v8',
        'linux/amd64',
        'linux/arm/v4',
        'linux/arm/v9',
        'linux/arm64/v8',
        'linux/arm64/v8.1',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm64/v8.1',
      match: ['linux/arm64/v8.1'],
      noMatch: [
        'linux/arm',
        'linux/arm/v5',
        'linux/arm/v6',
        'linux/arm/v7',
        'linux/arm/v8',
        'linux/amd64',
        'linux/arm/v4',
        'linux/arm/v9',
        'linux/arm64/v8',
        'linux/arm64/v9',
        'windows/amd64',
        'windows/arm',
      ],
    },
    {
      platform: 'linux/arm64',
      match: ['linux/arm64', 'linux/arm64/v8'],
      noMatch: [
        'linux/arm',
        'linux/arm/v5',
        'linux/arm/v6',
        'linux/arm/v7',
        'linux/arm/v8',
        'linux/amd64',
        'linux/arm/v4',
        'linux/arm/v9',
        'linux/arm64/v9',
        'windows/amd64',
        'windows/arm',
      ],
    },
  ];

/** compare_test.go, TestCompareOSFeatures (its only, only strict and ordered comparers; not `Any`). */
export const compareOSFeatures: readonly {
  platform: string;
  platforms: readonly string[];
  expected: readonly string[];
}[] = [
  {
    platform: 'linux/amd64',
    platforms: ['windows/amd64', 'linux/amd64', 'linux(+other)/amd64', 'linux/arm64'],
    expected: ['linux/amd64', 'linux(+other)/amd64', 'windows/amd64', 'linux/arm64'],
  },
  {
    platform: 'linux(+none)/amd64',
    platforms: ['windows/amd64', 'linux/amd64', 'linux/arm64', 'linux(+other)/amd64'],
    expected: ['linux/amd64', 'linux(+other)/amd64', 'windows/amd64', 'linux/arm64'],
  },
  {
    platform: 'linux(+other)/amd64',
    platforms: ['windows/amd64', 'linux/amd64', 'linux/arm64', 'linux(+other)/amd64'],
    expected: ['linux(+other)/amd64', 'linux/amd64', 'windows/amd64', 'linux/arm64'],
  },
  {
    platform: 'linux(+af+other+zf)/amd64',
    platforms: ['windows/amd64', 'linux/amd64', 'linux/arm64', 'linux(+other)/amd64'],
    expected: ['linux(+other)/amd64', 'linux/amd64', 'windows/amd64', 'linux/arm64'],
  },
  {
    platform: 'linux(+f1+f2)/amd64',
    platforms: ['linux/amd64', 'linux(+f2)/amd64', 'linux(+f1)/amd64', 'linux(+f1+f2)/amd64'],
    expected: ['linux(+f1+f2)/amd64', 'linux(+f2)/amd64', 'linux(+f1)/amd64', 'linux/amd64'],
  },
  {
    platform: 'linux(7.2+other)/amd64',
    platforms: ['linux/amd64', 'linux(+other)/amd64', 'linux(7.1)/amd64', 'linux(7.2+other)/amd64'],
    expected: ['linux(+other)/amd64', 'linux(7.2+other)/amd64', 'linux/amd64', 'linux(7.1)/amd64'],
  },
];

/** platform_windows_compat_test.go, Test_PlatformCompat (builds: the file's named constants). */
export const windowsPlatformCompat: readonly {
  hostBuild: number;
  containerBuild: number;
  shouldRun: boolean;
  names: readonly string[];
}[] = [
  {
    hostBuild: 17763,
    containerBuild: 17763,
    shouldRun: true,
    names: ['ltsc2019', 'ltsc2019'],
  },
  {
    hostBuild: 17763,
    containerBuild: 20348,
    shouldRun: false,
    names: ['ltsc2019', 'ltsc2022'],
  },
  {
    hostBuild: 20348,
    containerBuild: 17763,
    shouldRun: false,
    names: ['ltsc2022', 'ltsc2019'],
  },
  {
    hostBuild: 20348,
    containerBuild: 20348,
    shouldRun: true,
    names: ['ltsc2022', 'ltsc2022'],
  },
  {
    hostBuild: 22621,
    containerBuild: 17763,
    shouldRun: false,
    names: ['v22H2Win11', 'ltsc2019'],
  },
  {
    hostBuild: 22621,
    containerBuild: 20348,
    shouldRun: true,
    names: ['v22H2Win11', 'ltsc2022'],
  },
  {
    hostBuild: 25398,
    containerBuild: 17763,
    shouldRun: false,
    names: ['v23H2', 'ltsc2019'],
  },
  {
    hostBuild: 25398,
    containerBuild: 20348,
    shouldRun: true,
    names: ['v23H2', 'ltsc2022'],
  },
  {
    hostBuild: 26100,
    containerBuild: 20348,
    shouldRun: true,
    names: ['ltsc2025', 'ltsc2022'],
  },
  {
    hostBuild: 20348,
    containerBuild: 26100,
    shouldRun: false,
    names: ['ltsc2022', 'ltsc2025'],
  },
  {
    hostBuild: 20348,
    containerBuild: 22621,
    shouldRun: false,
    names: ['ltsc2022', 'v22H2Win11'],
  },
  {
    hostBuild: 26100,
    containerBuild: 22621,
    shouldRun: true,
    names: ['ltsc2025', 'v22H2Win11'],
  },
];

/** platform_windows_compat_test.go, Test_PlatformOrder. */
export const windowsPlatformOrder: readonly {
  name: string;
  host: Platform;
  platforms: readonly Platform[];
  want: Platform;
}[] = [
  {
    name: 'Windows Server 2022 should select 2022',
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.20348.3091',
    },
    platforms: [
      {
        architecture: 'amd64',
        os: 'linux',
      },
      {
        architecture: 'amd64',
        os: 'windows',
        osVersion: '10.0.20348.3091',
      },
      {
        architecture: 'amd64',
        os: 'windows',
        osVersion: '10.0.26100.2894',
      },
    ],
    want: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.20348.3091',
    },
  },
  {
    name: 'Windows Server 2025 should select 2025',
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.26100.2894',
    },
    platforms: [
      {
        architecture: 'amd64',
        os: 'linux',
      },
      {
        architecture: 'amd64',
        os: 'windows',
        osVersion: '10.0.20348.3091',
      },
      {
        architecture: 'amd64',
        os: 'windows',
        osVersion: '10.0.26100.2894',
      },
    ],
    want: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.26100.2894',
    },
  },
  {
    name: 'Windows Server 2025 should select 2025 latest rev',
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.26100.2894',
    },
    platforms: [
      {
        architecture: 'amd64',
        os: 'linux',
      },
      {
        architecture: 'amd64',
        os: 'windows',
        osVersion: '10.0.20348.3091',
      },
      {
        architecture: 'amd64',
        os: 'windows',
        osVersion: '10.0.26100.3000',
      },
    ],
    want: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.26100.3000',
    },
  },
];

/** defaults_test.go, TestMatchComparerMatch_ABICheckWCOW. */
export const windowsAbiCheck: readonly { host: Platform; test: Platform; match: boolean }[] = [
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.17763',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.17763',
    },
    match: true,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.17763',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.20348',
    },
    match: false,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.20348',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.17763',
    },
    match: false,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.20348',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.20348',
    },
    match: true,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.22621',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.17763',
    },
    match: false,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.22621',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.20348',
    },
    match: true,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.17763',
    },
    match: true,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
    },
    match: true,
  },
  {
    host: {
      architecture: 'amd64',
      os: 'windows',
    },
    test: {
      architecture: 'amd64',
      os: 'windows',
      osVersion: '10.0.22621',
    },
    match: true,
  },
];
